"""Technical indicators: pure, vectorised functions over a price series.

Every function takes array-likes (numpy arrays, lists or pandas Series) and returns float64
values aligned with the input; the warm-up bars, where the window is not yet full, are NaN.
A pandas Series in gives a Series out with the same index, so the market API can return
them as they are; anything else gives numpy arrays. The value at bar `t` depends only on
bars `0..t` (the backtest relies on this: no lookahead).

Conventions (TA-Lib's, so numbers match what users see elsewhere):
- EMA uses alpha = 2 / (n + 1) and is seeded with the SMA of the first `n` values.
- RSI and ATR use Wilder's smoothing (alpha = 1 / n), seeded with a simple mean.
- Bollinger bands use the population standard deviation (ddof = 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from autostock.errors import ValidationError

__all__ = ["sma", "ema", "rsi", "macd", "bollinger", "atr", "donchian", "momentum", "true_range"]


def _values(x: Any, name: str = "values") -> np.ndarray:
    arr = np.asarray(x.to_numpy() if isinstance(x, pd.Series) else x)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, was {arr.ndim}-dimensional",
                              code="invalid_series")
    if arr.dtype.kind not in "iuf":
        raise ValidationError(f"{name} must be numeric, was {arr.dtype}", code="invalid_series")
    return arr


def _period(n: Any, name: str = "period") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValidationError(f"{name} must be a positive integer, was {n!r}", code="invalid_period")
    return int(n)


def _like(source: Any, values: np.ndarray) -> Any:
    if isinstance(source, pd.Series):
        return pd.Series(values, index=source.index)
    return values


def _sma(arr: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(arr), np.nan)
    if n > len(arr):
        return out
    # Integer prices sum exactly in int64, so the mean carries no cumulative rounding drift.
    acc = np.cumsum(arr, dtype=np.int64 if arr.dtype.kind in "iu" else np.float64)
    acc = np.concatenate(([0], acc))
    out[n - 1:] = (acc[n:] - acc[:-n]) / n
    return out


def _smoothed(arr: np.ndarray, n: int, alpha: float, start: int = 0) -> np.ndarray:
    """Exponential smoothing of arr[start:], seeded with the mean of its first n values."""
    out = np.full(len(arr), np.nan)
    seed_at = start + n - 1
    if seed_at >= len(arr):
        return out
    tail = arr[seed_at:].astype(np.float64)
    tail[0] = arr[start:seed_at + 1].mean()
    out[seed_at:] = pd.Series(tail).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def _first_valid(arr: np.ndarray) -> int:
    valid = np.flatnonzero(~np.isnan(arr))
    return int(valid[0]) if len(valid) else len(arr)


def sma(values: Any, n: int) -> Any:
    """Simple moving average over the last `n` values."""
    return _like(values, _sma(_values(values), _period(n)))


def ema(values: Any, n: int) -> Any:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n."""
    arr = _values(values)
    n = _period(n)
    return _like(values, _smoothed(arr, n, 2.0 / (n + 1)))


def rsi(values: Any, n: int = 14) -> Any:
    """Wilder's relative strength index (0..100); first value at bar `n`."""
    arr = _values(values).astype(np.float64)
    n = _period(n)
    out = np.full(len(arr), np.nan)
    if len(arr) > n:
        change = np.diff(arr)
        gain = _smoothed(np.clip(change, 0, None), n, 1.0 / n)
        loss = _smoothed(np.clip(-change, 0, None), n, 1.0 / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            rs = 100.0 - 100.0 / (1.0 + gain / loss)
        # No losses at all: RSI is 100 (50 when there was no movement either way).
        rs = np.where(loss == 0, np.where(gain == 0, 50.0, 100.0), rs)
        rs[np.isnan(gain)] = np.nan
        out[1:] = rs
    return _like(values, out)


def macd(values: Any, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[Any, Any, Any]:
    """(macd line, signal line, histogram): EMA(fast) − EMA(slow), its EMA(signal), the gap."""
    arr = _values(values)
    fast, slow, signal = _period(fast, "fast"), _period(slow, "slow"), _period(signal, "signal")
    if fast >= slow:
        raise ValidationError(f"fast ({fast}) must be shorter than slow ({slow})", code="invalid_period")
    line = _smoothed(arr, fast, 2.0 / (fast + 1)) - _smoothed(arr, slow, 2.0 / (slow + 1))
    sig = _smoothed(line, signal, 2.0 / (signal + 1), start=_first_valid(line))
    return _like(values, line), _like(values, sig), _like(values, line - sig)


def bollinger(values: Any, n: int = 20, k: float = 2.0) -> tuple[Any, Any, Any]:
    """(lower, middle, upper): SMA(n) ∓ k population standard deviations."""
    arr = _values(values)
    n = _period(n)
    mid = _sma(arr, n)
    std = pd.Series(arr, dtype=np.float64).rolling(n).std(ddof=0).to_numpy()
    return _like(values, mid - k * std), _like(values, mid), _like(values, mid + k * std)


def true_range(high: Any, low: Any, close: Any) -> Any:
    """max(high − low, |high − previous close|, |low − previous close|); the first is high − low."""
    h, lo, c = (_values(v, name).astype(np.float64) for v, name in ((high, "high"), (low, "low"), (close, "close")))
    if not len(h) == len(lo) == len(c):
        raise ValidationError("high, low and close must have the same length", code="invalid_series")
    prev = np.concatenate(([np.nan], c[:-1]))
    tr = np.fmax(h - lo, np.fmax(np.abs(h - prev), np.abs(lo - prev)))
    return _like(close, tr)


def atr(high: Any, low: Any, close: Any, n: int = 14) -> Any:
    """Wilder's average true range; first value at bar n − 1."""
    n = _period(n)
    tr = np.asarray(true_range(high, low, close), dtype=np.float64)
    return _like(close, _smoothed(tr, n, 1.0 / n))


def donchian(high: Any, low: Any, n: int = 20) -> tuple[Any, Any, Any]:
    """(lower, middle, upper): lowest low and highest high of the last n bars, and their mean."""
    n = _period(n)
    h, lo = _values(high, "high"), _values(low, "low")
    if len(h) != len(lo):
        raise ValidationError("high and low must have the same length", code="invalid_series")
    upper = pd.Series(h, dtype=np.float64).rolling(n).max().to_numpy()
    lower = pd.Series(lo, dtype=np.float64).rolling(n).min().to_numpy()
    return _like(low, lower), _like(low, (upper + lower) / 2), _like(high, upper)


def momentum(values: Any, n: int = 20) -> Any:
    """Rate of change over n bars: values[t] / values[t − n] − 1."""
    arr = _values(values).astype(np.float64)
    n = _period(n)
    out = np.full(len(arr), np.nan)
    if n < len(arr):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[n:] = arr[n:] / arr[:-n] - 1.0
    return _like(values, out)
