"""Indicators against straightforward loop implementations written here, bar by bar."""

import math

import numpy as np
import pandas as pd
import pytest

from autostock import indicators as ind
from autostock.errors import ValidationError

NAN = float("nan")


def loop_sma(x, n):
    return [sum(x[i - n + 1:i + 1]) / n if i >= n - 1 else NAN for i in range(len(x))]


def loop_smooth(x, n, alpha, start=0):
    out, prev = [], None
    for i, v in enumerate(x):
        if i < start + n - 1:
            out.append(NAN)
            continue
        prev = sum(x[start:start + n]) / n if prev is None else alpha * v + (1 - alpha) * prev
        out.append(prev)
    return out


def loop_ema(x, n):
    return loop_smooth(x, n, 2 / (n + 1))


def loop_rsi(x, n):
    out = [NAN] * len(x)
    gains = [max(x[i] - x[i - 1], 0) for i in range(1, len(x))]
    losses = [max(x[i - 1] - x[i], 0) for i in range(1, len(x))]
    g, lo = loop_smooth(gains, n, 1 / n), loop_smooth(losses, n, 1 / n)
    for i in range(len(gains)):
        if math.isnan(g[i]):
            continue
        if lo[i] == 0:
            out[i + 1] = 50.0 if g[i] == 0 else 100.0
        else:
            out[i + 1] = 100 - 100 / (1 + g[i] / lo[i])
    return out


def loop_std(x, n):
    out = []
    for i in range(len(x)):
        if i < n - 1:
            out.append(NAN)
            continue
        w = x[i - n + 1:i + 1]
        m = sum(w) / n
        out.append(math.sqrt(sum((v - m) ** 2 for v in w) / n))
    return out


def loop_tr(h, lo, c):
    out = []
    for i in range(len(c)):
        if i == 0:
            out.append(h[0] - lo[0])
        else:
            out.append(max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])))
    return out


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-9, atol=1e-7,
                               equal_nan=True)


@pytest.fixture(params=[0, 1, 2])
def bars(request):
    rng = np.random.default_rng(request.param)
    c = np.cumsum(rng.integers(-500, 520, 300)) + 60_000
    h = c + rng.integers(0, 300, 300)
    lo = c - rng.integers(0, 300, 300)
    return h.astype(np.int64), lo.astype(np.int64), c.astype(np.int64)


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_sma_and_ema_match_loops(bars, n):
    c = bars[2]
    close(ind.sma(c, n), loop_sma(list(c), n))
    close(ind.ema(c, n), loop_ema(list(c), n))
    close(ind.sma(c.astype(float), n), loop_sma(list(c), n))


@pytest.mark.parametrize("n", [2, 14])
def test_rsi_matches_loop_and_stays_in_range(bars, n):
    got = ind.rsi(bars[2], n)
    close(got, loop_rsi(list(map(int, bars[2])), n))
    finite = got[~np.isnan(got)]
    assert ((finite >= 0) & (finite <= 100)).all()
    assert np.isnan(got[:n]).all() and not np.isnan(got[n])


def test_rsi_without_losses_is_100_and_flat_is_50():
    assert ind.rsi(np.arange(1, 30), 14)[-1] == 100.0
    assert ind.rsi(np.full(30, 7), 14)[-1] == 50.0


def test_macd_matches_ema_of_ema(bars):
    c = list(bars[2])
    line, sig, hist = ind.macd(bars[2], 12, 26, 9)
    want_line = [a - b for a, b in zip(loop_ema(c, 12), loop_ema(c, 26))]
    close(line, want_line)
    close(sig, loop_smooth(want_line, 9, 2 / 10, start=25))
    close(hist, np.asarray(want_line) - np.asarray(loop_smooth(want_line, 9, 2 / 10, start=25)))


def test_bollinger_matches_loop(bars):
    c = list(bars[2])
    lower, mid, upper = ind.bollinger(bars[2], 20, 2.0)
    m, s = np.asarray(loop_sma(c, 20)), np.asarray(loop_std(c, 20))
    close(mid, m)
    close(lower, m - 2 * s)
    close(upper, m + 2 * s)


def test_atr_and_true_range_match_loop(bars):
    h, lo, c = (list(map(int, v)) for v in bars)
    tr = loop_tr(h, lo, c)
    close(ind.true_range(*bars), tr)
    close(ind.atr(*bars, n=14), loop_smooth(tr, 14, 1 / 14))


def test_donchian_and_momentum_match_loops(bars):
    h, lo, c = (list(map(int, v)) for v in bars)
    lower, mid, upper = ind.donchian(bars[0], bars[1], 10)
    want_up = [max(h[i - 9:i + 1]) if i >= 9 else NAN for i in range(len(h))]
    want_lo = [min(lo[i - 9:i + 1]) if i >= 9 else NAN for i in range(len(lo))]
    close(upper, want_up)
    close(lower, want_lo)
    close(mid, (np.asarray(want_up) + np.asarray(want_lo)) / 2)
    close(ind.momentum(bars[2], 5), [c[i] / c[i - 5] - 1 if i >= 5 else NAN for i in range(len(c))])


def test_series_in_series_out_with_index():
    s = pd.Series([1, 2, 3, 4], index=pd.date_range("2024-01-01", periods=4))
    out = ind.sma(s, 2)
    assert isinstance(out, pd.Series) and (out.index == s.index).all()
    assert out.iloc[-1] == 3.5
    assert isinstance(ind.sma([1, 2, 3], 2), np.ndarray)


def test_short_input_is_all_nan():
    for fn in (ind.sma, ind.ema, ind.rsi, ind.momentum):
        assert np.isnan(fn([1, 2, 3], 5)).all()
    assert all(np.isnan(v).all() for v in ind.macd([1.0, 2.0], 2, 3, 2))


def test_values_up_to_t_ignore_later_bars(bars):
    c = bars[2].copy()
    before = [ind.sma(c, 10), ind.ema(c, 10), ind.rsi(c, 14), ind.macd(c)[1], ind.atr(*bars, n=14)]
    c[150:] = c[150:][::-1] * 3
    h, lo = bars[0].copy(), bars[1].copy()
    h[150:], lo[150:] = c[150:] + 7, c[150:] - 7
    after = [ind.sma(c, 10), ind.ema(c, 10), ind.rsi(c, 14), ind.macd(c)[1], ind.atr(h, lo, c, n=14)]
    for a, b in zip(before, after):
        close(a[:150], b[:150])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "5", None])
def test_bad_period_is_a_validation_error(bad):
    with pytest.raises(ValidationError) as e:
        ind.sma([1, 2, 3], bad)
    assert e.value.code == "invalid_period"


def test_bad_series_is_a_validation_error():
    with pytest.raises(ValidationError):
        ind.sma([[1, 2], [3, 4]], 2)
    with pytest.raises(ValidationError):
        ind.sma(["a", "b"], 1)
    with pytest.raises(ValidationError):
        ind.macd([1, 2, 3], 26, 12)
    with pytest.raises(ValidationError):
        ind.true_range([1, 2], [1], [1, 2])
    with pytest.raises(ValidationError):
        ind.donchian([1, 2], [1], 2)
