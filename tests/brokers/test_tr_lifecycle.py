"""The whole lifecycle for LS (paper) and Kiwoom (real and paper) against their simulators:
token → balance → limit buy → partial fill → status → cancel the rest → market sell → fill →
the day's orders and fills agree with the balance, the holdings and the exchange's books."""

from __future__ import annotations

from typing import Any

import pytest

from autostock.brokers.base import OrderRequest, OrderState, OrderType, Side
from autostock.brokers.sim.exchange import Exchange

SAMSUNG = "005930"


def _fees(ex: Exchange, value: int, side: str) -> int:
    fee, tax = ex.costs.costs(value, side=side, market="KOSPI", on=ex.clock.now().date())
    return fee + tax


@pytest.mark.parametrize(("kind", "paper"), [("ls", True), ("kiwoom", True), ("kiwoom", False)])
def test_full_lifecycle_against_the_simulator(request: pytest.FixtureRequest, kind: str, paper: bool) -> None:
    env: Any = request.getfixturevalue(f"{kind}_env")
    sim = env.sim if kind == "ls" else env.sim(paper)
    ex = env.exchange
    creds = env.app(paper=paper, cash=10_000_000)
    broker = env.broker(creds)
    broker.connect()
    assert sim.issued_count == 1
    start = broker.balance()
    assert (start.cash, start.buying_power, start.total_equity) == (10_000_000, 10_000_000, 10_000_000)

    ack = broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 10, OrderType.LIMIT, 70_100, "c-1"))
    assert ack.broker_order_id.isdigit() and ack.accepted_at is not None
    status = broker.order_status(ack.broker_order_id)
    assert (status.state, status.filled_quantity, status.average_fill_price) == (OrderState.PARTIALLY_FILLED, 3, 70_100)
    ex.trade(SAMSUNG, 70_000, 4)                      # a print crosses the resting remainder
    assert broker.order_status(ack.broker_order_id).filled_quantity == 7
    cancel = broker.cancel_order(ack.broker_order_id)
    parent = cancel.raw.get("PrntOrdNo", cancel.raw.get("base_orig_ord_no"))   # LS int, Kiwoom string
    assert cancel.broker_order_id != ack.broker_order_id and str(parent) == ack.broker_order_id
    status = broker.order_status(ack.broker_order_id)
    assert (status.state, status.filled_quantity, status.cancelled_quantity) == (OrderState.CANCELLED, 7, 3)

    ex.requote(SAMSUNG, depth=10)
    sell = broker.place_order(OrderRequest(SAMSUNG, Side.SELL, 5, OrderType.MARKET))
    sold = broker.order_status(sell.broker_order_id)
    assert (sold.state, sold.filled_quantity, sold.average_fill_price) == (OrderState.FILLED, 5, 70_000)

    orders = broker.orders_today()
    assert [(o.side, o.filled_quantity) for o in orders] == [(Side.BUY, 7), (Side.SELL, 5)]
    bought = sum(f.quantity * f.price for f in orders[0].fills)
    got = sum(f.quantity * f.price for f in orders[1].fills)
    expected_cash = 10_000_000 - bought - _fees(ex, bought, "buy") + got - _fees(ex, got, "sell")
    end = broker.balance()
    assert end.cash == end.buying_power == expected_cash == ex.account(creds.account_number).cash
    assert end.total_equity == expected_cash + 2 * ex.instruments[SAMSUNG].last
    positions = broker.positions()
    assert [(p.symbol, p.quantity, p.average_price, p.sellable_quantity) for p in positions] \
        == [(SAMSUNG, 2, 70_100, 2)]
    most = expected_cash // 70_000
    while most * 70_000 + ex.costs.commission(most * 70_000) > expected_cash:
        most -= 1
    assert broker.buyable_quantity(SAMSUNG, 70_000) == most
