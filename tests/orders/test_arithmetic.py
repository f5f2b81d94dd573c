"""Pure parts: fill arithmetic (hand-computed) and the state machine's allowed moves."""

from __future__ import annotations

import datetime as dt

import pytest

from autostock.market.costs import CostModel
from autostock.orders import lifecycle
from autostock.orders.book import buy_reservation, trade_effect

ON = dt.date(2025, 6, 16)          # 2025: KOSPI sell tax 0.15 %
COSTS = CostModel()                # 0.0140527 % commission


def test_buy_then_partial_sell_realizes_pnl_net_of_fees():
    buy = trade_effect("buy", 10, 70_000, 0, 0, COSTS, market="KOSPI", on=ON)
    assert (buy.value, buy.commission, buy.tax) == (700_000, 98, 0)          # 700,000 × 0.000140527 = 98.4
    assert (buy.quantity_after, buy.cost_basis_after) == (10, 700_098)
    sell = trade_effect("sell", 4, 75_000, 10, 700_098, COSTS, market="KOSPI", on=ON)
    assert (sell.value, sell.commission, sell.tax) == (300_000, 42, 450)      # 42.16; 0.15 % = 450
    assert sell.cost_basis_after == 700_098 - 280_039                        # 700,098 × 4 / 10 = 280,039.2
    assert sell.realized == 300_000 - 42 - 450 - 280_039
    rest = trade_effect("sell", 6, 60_000, 6, sell.cost_basis_after, COSTS, market="KOSPI", on=ON)
    assert rest.quantity_after == 0 and rest.cost_basis_after == 0, "the last sale takes the whole basis"
    assert buy_reservation(10, 70_000, COSTS) == 700_098


def test_kosdaq_and_konex_taxes_differ():
    kosdaq = trade_effect("sell", 10, 10_000, 10, 100_000, COSTS, market="KOSDAQ", on=ON)
    konex = trade_effect("sell", 10, 10_000, 10, 100_000, COSTS, market="KONEX", on=ON)
    assert (kosdaq.tax, konex.tax) == (150, 100)


@pytest.mark.parametrize("current,target,ok", [
    ("pending_new", "accepted", True), ("accepted", "partially_filled", True),
    ("partially_filled", "filled", True), ("accepted", "pending_cancel", True),
    ("pending_cancel", "cancelled", True), ("pending_new", "unknown", True), ("unknown", "filled", True),
    ("partially_filled", "partially_filled", True), ("filled", "cancelled", False),
    ("cancelled", "accepted", False), ("rejected", "accepted", False), ("accepted", "accepted", False),
    ("expired", "filled", False),
])
def test_state_machine(current, target, ok):
    assert lifecycle.can_move(current, target) is ok
