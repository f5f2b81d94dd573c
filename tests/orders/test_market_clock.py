"""market-clock: a cron-only dispatcher of named tasks; day orders expire at the close; equity
is snapshotted once after the close. The clock is the test's, so these run at any hour."""

from __future__ import annotations

import datetime as dt

from autostock import db, timetable
from autostock.brokers.paper import Matcher, PaperBroker
from autostock.errors import BrokerUnavailable
from autostock.market.calendar import SEOUL
from autostock.market.quotes import Tick
from tests.helpers import internal_headers, invoke
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"


def cron() -> dict[str, str]:
    return internal_headers("cron-function", "cron-connector")


def test_only_the_cron_connector_may_call(desk):
    assert invoke("market-clock", "POST", "/", b"").status == 403
    forged = invoke("market-clock", "POST", "/", b"", headers={"X-Topic": "cron-function",
                                                                "X-Connector": "cron-connector"})
    assert forged.status == 403 and forged.error_code == "not_an_internal_call"
    reply = invoke("market-clock", "POST", "/", b"", headers=cron())
    assert reply.status == 200 and "orders.reconcile" in reply.json["ran"]
    assert "orders.snapshot" not in reply.json["ran"], "not due mid-session"


def test_tasks_are_named_and_extensible(desk, resources):
    calls = []

    @timetable.task("test.noop", lambda now: now.minute == 7)
    def noop(res, now):
        calls.append(now)
        return {"ok": True}

    try:
        at = dt.datetime(2025, 6, 16, 10, 7, tzinfo=SEOUL)
        assert timetable.run_due(resources, now=at, only="test.noop")["ran"] == {"test.noop": {"ok": True}}
        assert "test.noop" not in timetable.run_due(resources, now=at.replace(minute=8))["ran"]
        assert invoke("market-clock", "POST", "/", b"", headers=cron(), query={"task": "nope"}).status == 404
    finally:
        timetable._tasks.pop("test.noop", None)


def test_day_orders_expire_at_the_close_and_release_their_reservation(trader, listed, clock, resources):
    symbol = listed(price=70_000)
    user = trader()
    order = invoke("place-order", "POST", PATH, order_body(symbol, price=65_000), token=user["token"]).json
    assert order["status"] == "accepted"
    clock.at = dt.datetime(2025, 6, 16, 15, 29, tzinfo=SEOUL)
    timetable.run_due(resources, only="orders.expire")
    assert invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json["status"] == "accepted"
    clock.at = dt.datetime(2025, 6, 16, 15, 31, tzinfo=SEOUL)
    reply = invoke("market-clock", "POST", "/", b"", headers=cron())
    assert reply.json["ran"]["orders.expire"]["expired"] >= 1
    got = invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json
    assert got["status"] == "expired" and got["reserved_cash"] == 0
    with db.service(resources.pool) as conn:
        state = conn.execute("SELECT state FROM paper_orders WHERE account_id = %s",
                             (user["account_id"],)).fetchone()["state"]
    assert state in ("cancelled", "expired"), "the broker no longer works it either"
    books_reconcile(resources, user["account_id"])


def test_equity_is_snapshotted_once_after_the_close(trader, listed, clock, resources):
    symbol = listed(price=70_000)
    user = trader(cash=5_000_000)
    invoke("place-order", "POST", PATH, order_body(symbol, quantity=10, price=None, order_type="market"),
           token=user["token"])
    listed(price=72_000, code=symbol, prev_close=70_000)
    clock.at = dt.datetime(2025, 6, 16, 15, 45, tzinfo=SEOUL)
    first = timetable.run_due(resources)
    assert first["ran"]["orders.snapshot"]["snapshots"] >= 1
    second = timetable.run_due(resources)
    assert second["ran"]["orders.snapshot"]["snapshots"] == 0
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT * FROM equity_snapshots WHERE account_id = %s", (user["account_id"],)).fetchone()
    cash = books_reconcile(resources, user["account_id"])["cash"]
    assert row["day"] == dt.date(2025, 6, 16)
    assert (row["cash"], row["holdings_value"], row["equity"]) == (cash, 720_000, cash + 720_000)


def test_expiry_waits_for_a_broker_that_does_not_answer(trader, listed, clock, resources, monkeypatch):
    """A day order the broker filled at the close, whose fill we have not heard of: while the
    broker does not answer, expiry leaves the order open with its cash held (expired, nothing
    would ask the broker again); once it answers, the fill is booked and the rest expires."""
    symbol = listed(price=70_000)
    user = trader()
    order = invoke("place-order", "POST", PATH, order_body(symbol, quantity=5, price=69_000), token=user["token"]).json
    assert order["status"] == "accepted"
    # The paper broker fills 3; its `orders.fill` message is lost (no connector runs here).
    assert len(Matcher(resources).on_tick(Tick(symbol, 69_000, 3, clock() + dt.timedelta(seconds=1), seq="c1"))) == 1

    def down(*args, **kwargs):
        raise BrokerUnavailable("no answer", code="broker_timeout")
    monkeypatch.setattr(PaperBroker, "order_status", down)
    clock.at = dt.datetime(2025, 6, 16, 15, 31, tzinfo=SEOUL)
    ran = timetable.run_due(resources, only="orders.expire")["ran"]["orders.expire"]
    held = invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json
    assert held["status"] == "accepted" and held["reserved_cash"] == order["reserved_cash"]
    assert ran["waiting_for_broker"] >= 1

    monkeypatch.undo()
    timetable.run_due(resources, only="orders.expire")
    got = invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json
    assert (got["status"], got["filled_quantity"], got["cancelled_quantity"], got["reserved_cash"]) == (
        "expired", 3, 2, 0)
    assert books_reconcile(resources, user["account_id"])["held"][symbol] == 3
    with db.service(resources.pool) as conn:
        ours = conn.execute("SELECT cash FROM account_books WHERE account_id = %s", (user["account_id"],)).fetchone()
        paper = conn.execute("SELECT cash FROM paper_accounts WHERE account_id = %s",
                             (user["account_id"],)).fetchone()
    assert ours["cash"] == paper["cash"]
