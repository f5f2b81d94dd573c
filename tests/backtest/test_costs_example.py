"""Acceptance: three trades on a hand-computed example, every fill, fee and tax to the won.

Costs: KIS commission 0.0140527% both sides (truncated to the won), KOSPI sell tax 0.18% in
2024 and 0.15% in 2025 (market.costs), 1 tick of slippage against us, fills at the next open.
"""

import numpy as np
import pandas as pd
import pytest

from autostock.backtest import Backtest, Strategy
from autostock.errors import ValidationError

DATES = pd.to_datetime(["2024-12-19", "2024-12-20", "2024-12-23", "2024-12-24", "2024-12-26", "2024-12-27",
                        "2024-12-30", "2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08",
                        "2025-01-09"])
OPENS = [69_000, 69_500, 70_000, 71_000, 72_000, 71_500, 49_950, 50_500, 51_000, 52_000, 80_000, 79_000, 81_000]
CLOSES = [69_400, 69_900, 70_800, 71_800, 71_600, 49_900, 50_400, 50_900, 51_800, 79_900, 79_500, 80_600, 80_000]
TARGETS = [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]


class Scripted(Strategy):
    name = "scripted"

    def targets(self, bars):
        return np.array(TARGETS[:len(bars)], dtype=float)


def frame(opens=OPENS, closes=CLOSES):
    return pd.DataFrame({"open": opens, "close": closes,
                         "high": [max(o, c) + 100 for o, c in zip(opens, closes)],
                         "low": [min(o, c) - 100 for o, c in zip(opens, closes)], "volume": 1000}, index=DATES)


def test_three_trades_to_the_won():
    result = Backtest(frame(), Scripted, cash=10_000_000, slippage_ticks=1).run()
    assert result.fill_list() == [
        # 2024-12-20 close says buy → 12-23 open 70,000 + 1 tick (100) = 70,100.
        # 143 × 70,100 = 10,024,300 > cash, so 142: 9,954,200 + fee 1,398 (1,398.83 truncated).
        {"date": "2024-12-23", "side": "buy", "quantity": 142, "price": 70_100, "commission": 1_398, "tax": 0},
        # 12-26 open 72,000 − 100 = 71,900; 10,209,800 × 0.0140527% = 1,434.76 → 1,434; × 0.18% = 18,377.64.
        {"date": "2024-12-26", "side": "sell", "quantity": 142, "price": 71_900, "commission": 1_434, "tax": 18_377},
        # Cash 44,402 + 10,189,989 = 10,234,391. 12-30 open 49,950 (tick 50) + 1 tick = 50,000 (tick 100 band).
        # 204 × 50,000 = 10,200,000, fee 1,433.37 → 1,433 (205 shares would cost 10,251,440).
        {"date": "2024-12-30", "side": "buy", "quantity": 204, "price": 50_000, "commission": 1_433, "tax": 0},
        # 2025: tax 0.15%. 01-03 open 51,000 − 100 = 50,900; 10,383,600 → fee 1,459.2, tax 15,575.4.
        {"date": "2025-01-03", "side": "sell", "quantity": 204, "price": 50_900, "commission": 1_459, "tax": 15_575},
        # Cash 10,399,524. 01-07 open 80,000 + 100 = 80,100; 129 × 80,100 = 10,332,900, fee 1,452.05.
        {"date": "2025-01-07", "side": "buy", "quantity": 129, "price": 80_100, "commission": 1_452, "tax": 0},
        # 01-09 open 81,000 − 100 = 80,900; 10,436,100 → fee 1,466.6, tax 15,654.15.
        {"date": "2025-01-09", "side": "sell", "quantity": 129, "price": 80_900, "commission": 1_466, "tax": 15_654},
    ]
    # 10,399,524 − 10,334,352 + 10,436,100 − 1,466 − 15,654
    assert int(result.cash[-1]) == int(result.equity[-1]) == 10_484_152
    assert [t["pnl"] for t in result.trades()] == [234_391, 165_133, 84_628]
    stats = result.stats()
    assert stats["trade_count"] == 3 and stats["win_rate"] == 1.0 and stats["final_equity"] == 10_484_152
    # Marked to the close while holding: 12-23 close 70,800 × 142 + 44,402.
    assert int(result.equity[2]) == 70_800 * 142 + 44_402


def test_money_is_never_a_float():
    result = Backtest(frame(), Scripted, cash=10_000_000).run()
    for name in ("shares", "cash", "equity"):
        assert getattr(result, name).dtype == np.int64, name
    for name in ("quantity", "price", "commission", "tax"):
        assert getattr(result.fills, name).dtype == np.int64, name
    for t in result.trades():
        assert all(isinstance(t[k], int) for k in ("bought", "sold", "costs", "pnl"))


def test_last_bar_decision_has_no_fill_and_cash_limits_buys():
    result = Backtest(frame(), Scripted, cash=60_000).run()
    # Nothing costs less than 60,000 except the 50,000 day: only that trade happens.
    assert [f["date"] for f in result.fill_list()] == ["2024-12-30", "2025-01-03"]
    assert any("smaller than the price of one share" in w for w in result.warnings)


@pytest.mark.parametrize("kwargs, field", [
    ({"cash": 0}, "cash"), ({"cash": 1.5}, "cash"), ({"cash": True}, "cash"),
    ({"commission_ppb": -1}, "commission_ppb"), ({"slippage_ticks": 1000}, "slippage_ticks"),
    ({"min_commission": "10"}, "min_commission"),
])
def test_bad_arguments_are_named(kwargs, field):
    with pytest.raises(ValidationError) as e:
        Backtest(frame(), Scripted, **kwargs)
    assert e.value.details["field"] == field


@pytest.mark.parametrize("mutate, words", [
    (lambda f: f.drop(columns=["close"]), "missing: close"),
    (lambda f: f.assign(open=f["open"].astype(float).where(f.index != f.index[3])), "NaN"),
    (lambda f: f.assign(open=f["open"] + 0.5), "whole KRW"),
    (lambda f: f.assign(low=0), "above 0"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "duplicate dates"),
    (lambda f: f.iloc[:1], "at least two bars"),
    (lambda f: f.iloc[:0], "empty"),
    (lambda f: f.reset_index(drop=True), "need dates"),
    (lambda f: f.assign(close="x"), "numeric"),
])
def test_bad_bars_get_fix_it_messages(mutate, words):
    with pytest.raises(ValidationError) as e:
        Backtest(mutate(frame()), Scripted)
    assert words in e.value.message


def test_oddities_are_warnings_not_errors():
    f = frame().iloc[::-1]
    f.iloc[0, f.columns.get_loc("high")] = 1  # high below open/close
    result = Backtest(f, "sma_cross").run(fast=5, slow=20)
    text = " ".join(result.warnings)
    assert "not sorted" in text and "high/low outside" in text and "warm up" in text
    assert len(result.fills) == 0


def test_date_column_and_strategy_errors():
    f = frame().reset_index(names="date")
    assert len(Backtest(f, Scripted).run().fills) == 6

    class Broken(Strategy):
        name = "broken"

        def targets(self, bars):
            return np.full(len(bars), 2.0)

    with pytest.raises(ValidationError, match="outside 0..1"):
        Backtest(frame(), Broken).run()
    with pytest.raises(ValidationError, match="unknown parameter"):
        Backtest(frame(), "sma_cross").run(fastest=3)
    with pytest.raises(ValidationError, match="shorter than slow"):
        Backtest(frame(), "sma_cross").run(fast=30, slow=10)
    with pytest.raises(ValidationError, match="unknown strategy"):
        Backtest(frame(), "nope")
    with pytest.raises(ValidationError, match="not allowed|chosen by name"):
        Backtest(frame(), "os:path", allow_import=False)
