"""Acceptance: scrambling every bar after day t leaves each built-in's decisions up to t unchanged."""

import numpy as np
import pytest

from autostock.backtest import Backtest, Bars, Panel, Portfolio, catalogue
from autostock.backtest.engine import target_weights

SINGLE = [s["name"] for s in catalogue() if not s["universe"]]
UNIVERSE = [s["name"] for s in catalogue() if s["universe"]]


def scrambled(bars: Bars, t: int, seed: int) -> Bars:
    rng = np.random.default_rng(seed)
    tail = rng.permutation(len(bars) - t - 1) + t + 1
    order = np.concatenate((np.arange(t + 1), tail))
    scale = np.ones(len(bars), dtype=np.int64)
    scale[t + 1:] = rng.integers(1, 4, len(bars) - t - 1)
    return Bars(bars.dates, bars.open[order] * scale, bars.high[order] * scale, bars.low[order] * scale,
                bars.close[order] * scale, bars.volume[order], bars.symbol, bars.market)


def test_every_builtin_is_covered():
    assert {"buy_and_hold", "sma_cross", "ema_cross", "rsi_reversion", "bollinger", "macd", "donchian"} <= set(SINGLE)
    assert {"top_n_momentum", "dual_momentum"} <= set(UNIVERSE)


@pytest.mark.parametrize("name", SINGLE)
def test_single_symbol_decisions_ignore_the_future(name, samsung):
    bars = Bars.from_frame(samsung.loc["2012":], symbol="005930")
    base = Backtest(bars, name).run()
    strategy = base_strategy = Backtest(bars, name).strategy_cls()
    full = target_weights(base_strategy, bars, (len(bars),))
    for i, t in enumerate((len(bars) // 3, len(bars) // 2, len(bars) - 40)):
        other = scrambled(bars, t, seed=i)
        assert (target_weights(strategy, other, (len(bars),))[:t + 1] == full[:t + 1]).all()
        again = Backtest(other, name).run()
        # Fills up to t happen at opens up to t, all of which are untouched.
        keep = base.fills.bar <= t
        assert (again.fills.bar[: keep.sum()] == base.fills.bar[keep]).all()
        assert (again.fills.quantity[: keep.sum()] == base.fills.quantity[keep]).all()
        assert (again.equity[:t + 1] == base.equity[:t + 1]).all()


@pytest.mark.parametrize("name", UNIVERSE)
def test_universe_decisions_ignore_the_future(name, universe):
    panel = Panel.from_frames(universe)
    strategy = Portfolio(panel, name).strategy_cls(lookback=60)
    full = target_weights(strategy, panel, panel.open.shape)
    assert full.any()
    for i, t in enumerate((len(panel) // 3, len(panel) - 30)):
        rng = np.random.default_rng(i)
        scale = np.ones(panel.close.shape, dtype=np.int64)
        scale[t + 1:] = rng.integers(1, 5, scale[t + 1:].shape)
        other = Panel(panel.dates, panel.symbols, panel.open * scale, panel.close * scale, panel.tradable,
                      panel.markets)
        assert (target_weights(strategy, other, panel.open.shape)[:t + 1] == full[:t + 1]).all()
        a, b = Portfolio(panel, name).run(lookback=60), Portfolio(other, name).run(lookback=60)
        assert (a.equity[:t + 1] == b.equity[:t + 1]).all()


@pytest.mark.parametrize("name", SINGLE)
def test_live_view_agrees_with_backtest(name, samsung):
    """What a live evaluator sees (bars up to now) gives the backtest's target for that bar."""
    bars = Bars.from_frame(samsung.loc["2018":], symbol="005930")
    strategy = Backtest(bars, name).strategy_cls()
    full = target_weights(strategy, bars, (len(bars),))
    for t in range(len(bars) - 60, len(bars), 7):
        assert target_weights(strategy, bars.head(t + 1), (t + 1,))[-1] == full[t]
