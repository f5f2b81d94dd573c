"""A paper order is recorded, placed, filled and settled in one transaction: all of it or none."""

from __future__ import annotations

import pytest

from autostock import db, orders
from autostock.orders import book, entry
from tests.helpers import eventually, invoke
from tests.orders.conftest import books_reconcile, order_body
from tests.brokers.conftest import exchange, kis_env  # noqa: F401 - fixtures
from tests.orders.test_events import heard  # noqa: F401 - fixture
from tests.orders.test_reconcile import kis_trader  # noqa: F401 - fixture

PATH = "/api/v1/trading/orders"


def _rows(resources, account_id: str) -> dict[str, int]:
    with db.service(resources.pool) as conn:
        count = {table: conn.execute(f"SELECT count(*) AS n FROM {table} WHERE account_id = %s",  # noqa: S608
                                     (account_id,)).fetchone()["n"]
                 for table in ("orders", "paper_orders", "fills", "paper_fills")}
        count["keys"] = conn.execute("SELECT count(*) AS n FROM idempotency_keys k JOIN orders o"
                                     " ON o.id = k.order_id WHERE o.account_id = %s", (account_id,)).fetchone()["n"]
    return count


def test_a_failure_after_the_paper_fill_leaves_nothing_behind_and_a_retry_places_once(
        trader, listed, resources, desk, monkeypatch):
    symbol = listed(price=70_000)
    user = trader(cash=10_000_000)
    body = order_body(symbol, price=None, order_type="market", quantity=3)
    # Open the books with a first order, so the counts below start from a settled account.
    assert invoke("place-order", "POST", PATH, order_body(symbol, price=60_000, quantity=1),
                  token=user["token"]).status == 201
    before = _rows(resources, user["account_id"])

    def broken(*args, **kwargs):
        raise RuntimeError("recording the order and its fill failed after the paper broker filled it")
    monkeypatch.setattr(book, "create_filled", broken)
    with pytest.raises(RuntimeError):
        entry.place_order(desk, user["id"], body, idempotency_key="atomic-1")
    assert _rows(resources, user["account_id"]) == before, "the paper fill was rolled back with the rest"
    monkeypatch.undo()

    reply = invoke("place-order", "POST", PATH, body, token=user["token"], headers={"Idempotency-Key": "atomic-1"})
    assert reply.status == 201 and reply.json["status"] == "filled", reply
    after = _rows(resources, user["account_id"])
    assert after == {**before, "orders": before["orders"] + 1, "paper_orders": before["paper_orders"] + 1,
                     "fills": before["fills"] + 1, "paper_fills": before["paper_fills"] + 1, "keys": 1}
    books_reconcile(resources, user["account_id"])


def test_a_paper_refusal_inside_the_transaction_is_a_recorded_rejection_that_holds_nothing(
        trader, listed, resources):
    symbol = listed(price=70_000)
    user = trader(cash=10_000_000)
    assert invoke("place-order", "POST", PATH, order_body(symbol, price=60_000, quantity=1),
                  token=user["token"]).status == 201
    # The paper broker's own cash falls below ours (as a broker's can): our risk check passes,
    # the broker refuses.
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE paper_accounts SET cash = 100000 WHERE account_id = %s", (user["account_id"],))
    before = _rows(resources, user["account_id"])
    reply = invoke("place-order", "POST", PATH, order_body(symbol, price=70_000, quantity=10),
                   token=user["token"], headers={"Idempotency-Key": "refused-1"})
    assert reply.status == 201, reply
    assert reply.json["status"] == "rejected"
    assert reply.json["reject_code"] == "insufficient_buying_power"
    assert reply.json["reserved_cash"] == 0
    after = _rows(resources, user["account_id"])
    assert after["paper_orders"] == before["paper_orders"], "the broker's half-made order was taken back"
    assert after["orders"] == before["orders"] + 1 and after["keys"] == 1
    with db.service(resources.pool) as conn:
        events = [r["event"] for r in conn.execute(
            "SELECT event FROM order_events WHERE order_id = %s ORDER BY id", (reply.json["id"],)).fetchall()]
        notice = conn.execute("SELECT kind FROM notifications WHERE dedup_key = %s",
                              (f"rejected:{reply.json['id']}",)).fetchone()
    assert events == ["created", "rejected"]
    assert notice is not None, "the user hears of the rejection"
    again = invoke("place-order", "POST", PATH, order_body(symbol, price=70_000, quantity=10),
                   token=user["token"], headers={"Idempotency-Key": "refused-1"})
    assert again.json == reply.json
    books_reconcile(resources, user["account_id"])



def test_an_immediate_paper_fill_is_booked_in_the_order_commit_and_not_announced_again(
        trader, listed, resources, desk, heard):  # noqa: F811 - the imported fixture
    """`orders.fill` is how the paper broker's later fills reach the books; a fill the order's
    own commit booked has nobody to tell (its listener would find it applied)."""
    symbol = listed(price=70_000)
    user = trader()
    order = invoke("place-order", "POST", PATH, order_body(symbol, price=None, order_type="market"),
                   token=user["token"]).json
    assert order["status"] == "filled" and order["filled_quantity"] == 10
    eventually(lambda: any(s == "orders.filled" and b["order"]["id"] == order["id"] for s, b in heard), timeout=10)
    assert desk.settle_notices(5)
    assert not [b for s, b in heard if s == "orders.fill" and b.get("account_id") == user["account_id"]]
    books_reconcile(resources, user["account_id"])


def test_only_brokers_that_can_place_in_a_transaction_are_routed_there(resources, kis_trader):  # noqa: F811
    """The router's list and the adapters agree: a listed broker implements `place_order_in`,
    and an order to a broker over the network keeps its own two transactions."""
    from autostock.brokers.base import Broker, OrderRequest, OrderType, Side
    from autostock.orders import routing
    from autostock.orders.desk import AccountTerms
    for name in routing.IN_TRANSACTION:
        terms = AccountTerms(id="00000000-0000-0000-0000-000000000001", user_id=kis_trader["id"], broker=name,
                             paper=True)
        adapter = routing.ADAPTERS[name](resources, terms, lambda: None)
        assert type(adapter).place_order_in is not Broker.place_order_in, name
    kis = AccountTerms(id=kis_trader["account_id"], user_id=kis_trader["id"], broker="kis", paper=False)
    desk = orders.current(resources)
    assert not desk.places_in_transaction(kis)
    with pytest.raises(NotImplementedError):
        desk.broker_for(kis).place_order_in(None, OrderRequest("005930", Side.BUY, 1, OrderType.LIMIT, 70_000))


def test_a_paper_order_is_six_statements_and_a_commit(trader, listed, desk, monkeypatch):
    """What a paper order costs the database (docs/benchmarks.md): BEGIN as the tenant; the locks;
    the exposure; the paper broker's account, then its order with its fill; our order with its
    events, fill, position, cash, ledger and notice; COMMIT. A step that comes back as a
    statement of its own shows here first."""
    import threading

    import psycopg
    symbol = listed(price=70_000)
    user = trader(cash=10_000_000)
    assert entry.place_order(desk, user["id"], order_body(symbol, price=60_000, quantity=1))[0] == 201
    me, sent = threading.get_ident(), []
    execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

    def counted(name, real):  # every statement goes through a cursor's execute (Connection.execute too)
        def call(self, *args, **kwargs):
            conn = self if name == "commit" else self.connection
            idle = conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if threading.get_ident() == me and not (name == "commit" and idle):  # an idle commit sends nothing
                sent.append(name)
            return real(self, *args, **kwargs)
        return call
    monkeypatch.setattr(psycopg.Cursor, "execute", counted("execute", execute))
    monkeypatch.setattr(psycopg.Connection, "commit", counted("commit", commit))
    status, order = entry.place_order(desk, user["id"], order_body(symbol, price=None, order_type="market",
                                                                  quantity=2))
    monkeypatch.undo()
    assert status == 201 and order["status"] == "filled" and order["filled_quantity"] == 2
    assert sent == ["execute"] * 6 + ["commit"]
