"""Lost answers: an order whose reply never came is `unknown` until the broker's records say
what it is. Nothing is ever sent twice."""

from __future__ import annotations

import pytest

from autostock import accounts, db, orders, timetable
from autostock.brokers.sim.exchange import Exchange
from autostock.orders import routing
from tests.brokers.conftest import TRADING_MORNING, exchange, kis_env  # noqa: F401 - fixtures
from tests.helpers import invoke
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"


@pytest.fixture
def kis_trader(kis_env, resources, user_factory, listed):  # noqa: F811 - the imported fixture
    """A user allowed real trading, with a KIS account on the simulator, and a desk routing to it."""
    credentials = kis_env.app(cash=10_000_000)
    user = user_factory(can_real_trade=True, daily_trade_limit=100)
    account = accounts.create_account(resources, user["id"], broker="kis",
                                      account_number=credentials.account_number,
                                      app_key=credentials.app_key, app_secret=credentials.app_secret)
    broker = kis_env.broker(credentials)
    adapters = {**routing.ADAPTERS, "kis": lambda res, acct, clock: broker}
    clock = kis_env.exchange.clock.now
    desk = orders.Desk(resources=resources, brokers=routing.BrokerRouter(resources, adapters, clock=clock),
                       clock=clock, quote_ttl=0)
    orders.install(desk)
    timetable.install_clock(clock)
    listed(price=70_000, code="005930")
    yield {**user, "account_id": account["id"], "credentials": credentials}
    orders.install(None)
    timetable.install_clock(None)


def _order_posts(kis_env) -> int:  # noqa: F811
    return len([r for r in kis_env.real.requests if r.path.endswith("order-cash")])


def test_timeout_after_accept_is_unknown_then_reconciled_to_the_brokers_truth(kis_trader, kis_env,
                                                                              resources):  # noqa: F811
    kis_env.real.faults.arm("drop_after_order")
    reply = invoke("place-order", "POST", PATH,
                   order_body("005930", quantity=5, price=70_100, account_id=kis_trader["account_id"]),
                   token=kis_trader["token"], headers={"Idempotency-Key": "lost-answer-1"})
    assert reply.status == 201, reply
    assert reply.json["status"] == "unknown"
    assert reply.json["reserved_cash"] > 0, "an unknown buy keeps its cash held"
    # A retry with the same key returns the first answer; it does not send again.
    again = invoke("place-order", "POST", PATH,
                   order_body("005930", quantity=5, price=70_100, account_id=kis_trader["account_id"]),
                   token=kis_trader["token"], headers={"Idempotency-Key": "lost-answer-1"})
    assert again.json == reply.json
    assert _order_posts(kis_env) == 1

    report = timetable.run_due(resources, only="orders.reconcile")
    assert report["ran"]["orders.reconcile"]["changed"] >= 1

    truth = kis_env.exchange.day_orders(kis_trader["credentials"].account_number)
    assert len(truth) == 1
    got = invoke("orders", "GET", f"{PATH}/{reply.json['id']}", token=kis_trader["token"]).json
    assert got["broker_order_id"] == f"{truth[0].order_id:010d}"
    assert got["filled_quantity"] == truth[0].filled
    assert got["status"] == ("filled" if truth[0].filled == 5 else "partially_filled")
    assert [e["to_state"] for e in got["events"]][:3] == ["pending_new", "unknown", "accepted"]
    assert _order_posts(kis_env) == 1, "reconciliation only reads"
    books_reconcile(resources, kis_trader["account_id"])

    # Later fills arrive as KIS's cumulative figure; applying it again changes nothing.
    timetable.run_due(resources, only="orders.reconcile")
    timetable.run_due(resources, only="orders.reconcile")
    with db.service(resources.pool) as conn:
        total = conn.execute("SELECT coalesce(sum(quantity), 0) AS q FROM fills WHERE order_id = %s",
                             (reply.json["id"],)).fetchone()["q"]
    assert total == kis_env.exchange.day_orders(kis_trader["credentials"].account_number)[0].filled


def test_kis_order_places_and_cancels_through_the_simulator(kis_trader, kis_env, resources):  # noqa: F811
    reply = invoke("place-order", "POST", PATH,
                   order_body("005930", quantity=3, price=60_000, account_id=kis_trader["account_id"]),
                   token=kis_trader["token"])
    assert reply.status == 201 and reply.json["status"] == "accepted", reply
    cancel = invoke("orders", "POST", f"{PATH}/{reply.json['id']}/cancel", token=kis_trader["token"])
    assert cancel.status == 200 and cancel.json["status"] == "cancelled", cancel
    assert cancel.json["reserved_cash"] == 0
    books_reconcile(resources, kis_trader["account_id"])


def test_exchange_fixture_is_at_a_trading_hour(exchange: Exchange):  # noqa: F811
    assert exchange.session_open() and TRADING_MORNING.hour == 10
