"""Engine paths beyond all-in/all-out: partial weights, a minimum commission, user strategies
by module path, the file bar source, metrics on known curves, and the SVG chart."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autostock.backtest import Backtest, Strategy, metrics
from autostock.backtest.chart import equity_svg
from autostock.backtest.fills import snap, tick_sizes
from autostock.backtest.sources import FileBarSource
from autostock.errors import NotFound, ValidationError
from autostock.market import rules
from tests.backtest.test_costs_example import DATES, frame

ROOT = Path(__file__).resolve().parents[2]


class Steps(Strategy):
    name = "steps"

    def targets(self, bars):
        return np.array([0, 0.5, 0.5, 1.0, 1.0, 0.25, 0.25, 0, 0, 0, 0, 0, 0][:len(bars)])


def test_partial_weights_resize_the_position_against_equity_at_the_open():
    result = Backtest(frame(), Steps, cash=10_000_000).run()
    fills = result.fill_list()
    assert [f["side"] for f in fills] == ["buy", "buy", "sell", "sell"]
    # Half of 10,000,000 at 70,000 → 71 shares; then all-in at 72,000 with the rest of the cash.
    assert fills[0]["quantity"] == 10_000_000 // 2 // 70_000
    held = fills[0]["quantity"] + fills[1]["quantity"]
    assert fills[1]["price"] == 72_000
    assert int(result.cash[4]) < 72_000 + 200  # less than one more share (plus its fee) is left
    # 25 %: equity at the 12-30 open (shares × 49,950 + cash) × 0.25 // 49,950 shares are kept.
    equity = held * 49_950 + int(result.cash[5])
    assert held - fills[2]["quantity"] == equity // 4 // 49_950
    assert int(result.shares[-1]) == 0 and (result.cash >= 0).all()


def test_minimum_commission_applies_to_small_fills():
    result = Backtest(frame(), "buy_and_hold", cash=200_000, min_commission=1_500).run()
    (buy,) = result.fill_list()
    assert buy["commission"] == 1_500 and buy["quantity"] == 2  # 2 × 69,500 + 1,500 ≤ 200,000
    cash = 200_000 - 2 * 69_500 - 1_500
    assert int(result.cash[-1]) == cash


def test_tick_grid_vectorised_equals_scalar_rules():
    rng = np.random.default_rng(5)
    prices = rng.integers(1, 2_000_000, 2_000)
    days = np.array(["2010-05-03", "2023-01-24", "2023-01-25", "2024-06-03"], dtype="datetime64[D]")
    for day in days:
        on = day.astype(object)
        for market in ("KOSPI", "KOSDAQ"):
            d = np.full(len(prices), day)
            assert tick_sizes(prices, d, market).tolist() == [rules.tick_size(int(p), market, on=on) for p in prices]
            assert snap(prices, d, market, up=True).tolist() == [
                rules.round_to_tick(int(p), market, up=True, on=on) for p in prices]
            assert snap(prices, d, market, up=False).tolist() == [
                rules.round_to_tick(int(p), market, up=False, on=on) for p in prices]


def test_user_strategy_by_module_path(samsung):
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        result = Backtest(samsung.loc["2020":], "my_strategies:TrendWithRsiFilter").run(n=60)
    finally:
        sys.path.remove(str(ROOT / "docs" / "examples"))
    assert result.strategy == "trend_rsi_filter" and result.stats()["trade_count"] > 0
    with pytest.raises(ValidationError, match="cannot import"):
        Backtest(samsung, "no_such_module:Thing")
    with pytest.raises(ValidationError, match="not a Strategy"):
        Backtest(samsung, "math:pi")


def test_file_source_reads_shipped_bars_and_index():
    source = FileBarSource()
    bars = source.daily("005930", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-12-30").date())
    assert bars.symbol == "005930" and bars.market == "KOSPI" and bars.close.dtype == np.int64
    assert str(bars.dates[0]) == "2024-01-02"
    assert source.markets["035720"] == "KOSPI"
    assert source.index("KOSPI").loc["2008-10-24"] == 938.75
    assert source.index("NOPE") is None
    with pytest.raises(NotFound):
        source.daily("123456")
    with pytest.raises(NotFound):
        source.daily("KOSPI")


def test_metrics_on_a_known_curve():
    equity = np.array([100, 110, 99, 121, 121, 90, 135], dtype=np.int64)
    dd = metrics.drawdown(equity)
    assert dd.min() == pytest.approx(90 / 121 - 1)
    deepest, longest = metrics.max_drawdown(equity)
    assert deepest == pytest.approx(90 / 121 - 1) and longest == 1  # 121 again is a peak, not under it
    r = metrics.returns(equity)
    assert r[0] == pytest.approx(0.1)
    assert metrics.sortino(r) > metrics.sharpe(r) > 0
    dates = np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]")
    assert metrics.cagr(np.array([100, 121]), dates) == pytest.approx(0.21, rel=1e-2)
    table = metrics.trade_stats(np.array([100, -50, 30, -10]))
    assert table == {"trade_count": 4, "win_rate": 0.5, "profit_factor": 130 / 60, "avg_trade": 17}
    assert metrics.objective({"sharpe": None}, "sharpe") == float("-inf")


def test_monthly_table_and_chart():
    result = Backtest(frame(), "buy_and_hold").run()
    table = metrics.monthly_returns(result.equity, result.bars.dates)
    assert set(table) == {"2024", "2025"} and set(table["2025"]) == {"1"}
    curve = result.to_dict()["curve"]
    svg = equity_svg(curve["dates"], curve["equity"], curve["drawdown"], title="t <&>")
    assert svg.startswith("<svg") and "t &lt;&amp;&gt;" in svg and str(DATES[0].date()) in svg
    long = equity_svg([str(i) for i in range(5000)], list(range(5000, 10000)), [0.0] * 5000)
    assert long.count(" L") < 1300  # thinned
