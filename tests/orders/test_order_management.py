"""orders function: list with filters and cursors, get, cancel (idempotent), modify, positions,
fills history; and no user ever sees another's."""

from __future__ import annotations

import base64
import datetime as dt

from autostock import db, timetable
from autostock.brokers.base import UnknownOutcome
from autostock.brokers.paper import Matcher, PaperBroker
from autostock.errors import BrokerRejected, BrokerUnavailable
from autostock.market.quotes import Tick
from autostock.orders import reconcile
from tests.helpers import internal_headers, invoke
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"


def _place(user, body, **headers):
    reply = invoke("place-order", "POST", PATH, body, token=user["token"], headers=headers or None)
    assert reply.status == 201, reply
    return reply.json


def test_cancel_releases_the_reservation_and_is_idempotent(trader, listed, resources):
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, price=65_000))
    assert order["status"] == "accepted" and order["reserved_cash"] > 0
    first = invoke("orders", "POST", f"{PATH}/{order['id']}/cancel", token=user["token"])
    assert first.status == 200 and first.json["status"] == "cancelled", first
    assert first.json["reserved_cash"] == 0 and first.json["cancelled_quantity"] == 10
    again = invoke("orders", "POST", f"{PATH}/{order['id']}/cancel", token=user["token"])
    assert again.status == 200 and again.json["status"] == "cancelled"
    with db.service(resources.pool) as conn:
        assert conn.execute("SELECT state FROM paper_orders WHERE account_id = %s",
                            (user["account_id"],)).fetchone()["state"] == "cancelled"
    books_reconcile(resources, user["account_id"])


def test_cancel_of_a_filled_order_is_409(trader, listed):
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, price=None, order_type="market"))
    reply = invoke("orders", "POST", f"{PATH}/{order['id']}/cancel", token=user["token"])
    assert reply.status == 409 and reply.error_code == "order_not_open"


def test_modify_reprices_and_reduces(trader, listed, resources):
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, quantity=10, price=65_000))
    reply = invoke("orders", "PATCH", f"{PATH}/{order['id']}", {"price": 66_000, "quantity": 4},
                   token=user["token"])
    assert reply.status == 200, reply
    assert reply.json["price"] == 66_000 and reply.json["remaining_quantity"] == 4
    assert reply.json["reserved_cash"] == 4 * 66_000 + 4 * 66_000 * 140_527 // 1_000_000_000
    bad = invoke("orders", "PATCH", f"{PATH}/{order['id']}", {"quantity": 50}, token=user["token"])
    assert bad.status == 400 and bad.error_code == "invalid_quantity"
    off_tick = invoke("orders", "PATCH", f"{PATH}/{order['id']}", {"price": 66_050}, token=user["token"])
    assert off_tick.status == 400 and off_tick.error_code == "invalid_tick"
    empty = invoke("orders", "PATCH", f"{PATH}/{order['id']}", {}, token=user["token"])
    assert empty.status == 400 and empty.error_code == "nothing_to_modify"
    books_reconcile(resources, user["account_id"])


def test_list_filters_and_cursor_pages(trader, listed):
    symbol = listed(price=70_000)
    user = trader()
    ids = [_place(user, order_body(symbol, price=60_000 + 100 * i))["id"] for i in range(5)]
    filled = _place(user, order_body(symbol, quantity=1, price=None, order_type="market"))
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = invoke("orders", "GET", PATH, token=user["token"], query=query).json
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [filled["id"], *reversed(ids)]
    open_only = invoke("orders", "GET", PATH, token=user["token"], query={"status": "open"}).json
    assert {o["id"] for o in open_only["items"]} == set(ids)
    by_side = invoke("orders", "GET", PATH, token=user["token"], query={"side": "sell"}).json
    assert by_side["items"] == []
    bad = invoke("orders", "GET", PATH, token=user["token"], query={"cursor": "not-a-cursor"})
    assert bad.status == 400 and bad.error_code == "invalid_cursor"
    forged = base64.urlsafe_b64encode(b"2025-06-16T10:00:00+09:00|not-an-id").decode()
    for path in (PATH, "/api/v1/trading/history"):
        reply = invoke("orders", "GET", path, token=user["token"], query={"cursor": forged})
        assert (reply.status, reply.error_code) == (400, "invalid_cursor"), path
    assert invoke("orders", "GET", PATH, token=user["token"], query={"limit": "0"}).status == 400


def test_get_shows_events_and_fills_positions_and_history(trader, listed):
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, quantity=3, price=None, order_type="market"))
    got = invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json
    assert [e["to_state"] for e in got["events"]] == ["pending_new", "accepted", "filled"]
    assert sum(f["quantity"] for f in got["fills"]) == 3
    positions = invoke("orders", "GET", "/api/v1/trading/positions", token=user["token"]).json["items"]
    assert [(p["symbol"], p["quantity"]) for p in positions] == [(symbol, 3)]
    assert positions[0]["average_cost"] == positions[0]["cost_basis"] // 3
    assert positions[0]["last_price"] == 70_000 and positions[0]["market_value"] == 210_000
    history = invoke("orders", "GET", "/api/v1/trading/history", token=user["token"],
                     query={"symbol": symbol}).json
    assert [h["order_id"] for h in history["items"]] == [order["id"]]


def test_users_never_see_each_others_orders(trader, listed):
    symbol = listed(price=70_000)
    alice, bob = trader(), trader()
    order = _place(alice, order_body(symbol, price=65_000))
    for method, path in [("GET", f"{PATH}/{order['id']}"), ("POST", f"{PATH}/{order['id']}/cancel")]:
        reply = invoke("orders", method, path, token=bob["token"])
        assert reply.status == 404 and reply.error_code == "order_not_found", (method, reply)
    reply = invoke("orders", "PATCH", f"{PATH}/{order['id']}", {"price": 66_000}, token=bob["token"])
    assert reply.status == 404
    assert invoke("orders", "GET", PATH, token=bob["token"]).json["items"] == []
    assert invoke("orders", "GET", "/api/v1/trading/history", token=bob["token"]).json["items"] == []
    assert invoke("orders", "GET", f"{PATH}/not-a-uuid", token=bob["token"]).status == 404


def test_fill_messages_from_the_paper_broker_are_applied_once(trader, listed, desk, resources, clock):
    import datetime as dt

    from autostock.brokers.paper import Matcher
    from autostock.market.quotes import Tick
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, quantity=5, price=69_000))
    fills = Matcher(resources).on_tick(Tick(symbol, 69_000, 3, clock() + dt.timedelta(seconds=1), seq="x1"))
    assert len(fills) == 1
    fill = fills[0].fill
    message = {"account_id": user["account_id"], "user_id": user["id"], "broker_order_id": fill.broker_order_id,
               "client_order_id": order["client_order_id"], "fill_id": fill.fill_id, "symbol": symbol,
               "side": "buy", "quantity": fill.quantity, "price": fill.price,
               "filled_at": fill.filled_at.isoformat()}
    headers = internal_headers("orders.fill")
    first = invoke("orders", "POST", "/", message, headers=headers)
    again = invoke("orders", "POST", "/", message, headers=headers)
    assert first.json["applied"] is True and again.json["applied"] is False
    assert first.json["status"] == "partially_filled"
    wrong_topic = invoke("orders", "POST", "/", message, headers=internal_headers("orders.filled"))
    assert wrong_topic.status == 400 and wrong_topic.error_code == "unknown_topic"
    books_reconcile(resources, user["account_id"])


def _paper_state(resources, client_order_id):
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT state FROM paper_orders WHERE client_order_id = %s",
                            (client_order_id,)).fetchone()["state"]


def test_a_cancel_the_broker_never_got_is_not_stuck_pending(trader, listed, resources, monkeypatch):
    """The broker's cancel and the status read after it both time out: the order waits in
    `pending_cancel` while the broker still works it. Cancelling again asks the broker again;
    and left alone, reconciliation puts it back to working so it can be cancelled later."""
    symbol = listed(price=70_000)
    user = trader()
    first, second = (invoke("place-order", "POST", PATH, order_body(symbol, quantity=10, price=60_000 + i * 100),
                            token=user["token"]).json for i in range(2))
    calls = []

    def down(self, *args, **kwargs):
        calls.append(args)
        raise BrokerUnavailable("no answer", code="broker_timeout")
    for order in (first, second):
        with monkeypatch.context() as m:
            m.setattr(PaperBroker, "cancel_order", down)
            m.setattr(PaperBroker, "order_status", down)
            assert invoke("orders", "POST", f"{PATH}/{order['id']}/cancel",
                          token=user["token"]).json["status"] == "pending_cancel"
        assert _paper_state(resources, order["client_order_id"]) == "accepted"

    again = invoke("orders", "POST", f"{PATH}/{first['id']}/cancel", token=user["token"]).json
    assert (again["status"], again["reserved_cash"]) == ("cancelled", 0)
    assert _paper_state(resources, first["client_order_id"]) == "cancelled"

    with db.service(resources.pool) as conn:  # a minute on, nobody has cancelled it at the broker
        conn.execute("UPDATE orders SET updated_at = updated_at - interval '2 minutes' WHERE id = %s",
                     (second["id"],))
    timetable.run_due(resources, only="orders.reconcile")
    got = invoke("orders", "GET", f"{PATH}/{second['id']}", token=user["token"]).json
    assert got["status"] == "accepted" and got["reserved_cash"] == second["reserved_cash"]
    assert [e["event"] for e in got["events"]][-1] == "cancel_rejected"
    assert invoke("orders", "POST", f"{PATH}/{second['id']}/cancel", token=user["token"]).json["status"] == "cancelled"
    books_reconcile(resources, user["account_id"])


def test_a_modify_holds_the_cash_its_new_price_needs_while_the_broker_changes_it(trader, listed, resources,
                                                                                  monkeypatch):
    """An order placed while the broker reprices an earlier one sees the larger reservation:
    the two cannot together hold back more cash than the account has."""
    symbol = listed(price=70_000)
    user = trader(cash=1_000_000)
    first = _place(user, order_body(symbol, quantity=7, price=60_000))
    during = {}
    modify = PaperBroker.modify_order

    def meanwhile(self, broker_order_id, quantity, price):
        during["reply"] = invoke("place-order", "POST", PATH, order_body(symbol, quantity=8, price=65_000),
                                 token=user["token"])
        return modify(self, broker_order_id, quantity, price)
    monkeypatch.setattr(PaperBroker, "modify_order", meanwhile)
    changed = invoke("orders", "PATCH", f"{PATH}/{first['id']}", {"price": 69_000}, token=user["token"]).json
    assert changed["reserved_cash"] == 7 * 69_000 + 7 * 69_000 * 140_527 // 1_000_000_000
    assert during["reply"].status == 422 and during["reply"].error_code == "insufficient_buying_power"
    books_reconcile(resources, user["account_id"])


def test_a_fill_between_reading_and_modifying_an_order_is_not_counted_twice(trader, listed, desk, resources,
                                                                            monkeypatch):
    """The broker fills 6 of 10 just before the modify reaches it; the modify keeps 3 working.
    Our record agrees with the broker's: 6 filled, 1 cancelled, 3 working and held for."""
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, quantity=10, price=60_000))
    modify = PaperBroker.modify_order

    def filled_first(self, broker_order_id, quantity, price):
        fills = Matcher(resources).on_tick(Tick(symbol, 60_000, 6, desk.now() + dt.timedelta(seconds=1), seq="race-1"))
        for done in fills:
            reconcile.apply_fill_event(desk, {"account_id": user["account_id"], "user_id": user["id"],
                                              "broker_order_id": done.fill.broker_order_id,
                                              "client_order_id": order["client_order_id"],
                                              "fill_id": done.fill.fill_id, "symbol": symbol, "side": "buy",
                                              "quantity": done.fill.quantity, "price": done.fill.price})
        return modify(self, broker_order_id, quantity, price)
    monkeypatch.setattr(PaperBroker, "modify_order", filled_first)
    reply = invoke("orders", "PATCH", f"{PATH}/{order['id']}", {"quantity": 3}, token=user["token"])
    assert reply.status == 200, reply
    got = reply.json
    assert (got["filled_quantity"], got["cancelled_quantity"], got["remaining_quantity"]) == (6, 1, 3)
    assert got["reserved_cash"] == 3 * 60_000 + 3 * 60_000 * 140_527 // 1_000_000_000
    with db.service(resources.pool) as conn:
        broker = conn.execute("SELECT filled_quantity, cancelled_quantity FROM paper_orders WHERE client_order_id"
                              " = %s", (order["client_order_id"],)).fetchone()
    assert (broker["filled_quantity"], broker["cancelled_quantity"]) == (6, 1)
    books_reconcile(resources, user["account_id"])


def test_a_modify_the_broker_refuses_gives_back_the_cash_and_one_it_may_have_taken_keeps_it(
        trader, listed, monkeypatch):
    """Refused (the broker said no): the order holds back what its old price needs again. No
    answer (the broker may work the new price): the larger reservation stays until it is known."""
    symbol = listed(price=70_000)
    user = trader()
    order = _place(user, order_body(symbol, quantity=7, price=60_000))

    def answer_with(error):
        def modify(self, *args, **kwargs):
            raise error
        monkeypatch.setattr(PaperBroker, "modify_order", modify)
        return invoke("orders", "PATCH", f"{PATH}/{order['id']}", {"price": 69_000}, token=user["token"])

    refused = answer_with(BrokerRejected("no", code="modify_refused"))
    assert refused.status == 422
    got = invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json
    assert (got["price"], got["reserved_cash"]) == (60_000, order["reserved_cash"])
    lost = answer_with(UnknownOutcome("no answer", code="broker_timeout"))
    assert lost.status >= 500
    got = invoke("orders", "GET", f"{PATH}/{order['id']}", token=user["token"]).json
    assert got["reserved_cash"] == 7 * 69_000 + 7 * 69_000 * 140_527 // 1_000_000_000


def test_a_fill_pays_the_sell_tax_of_the_day_it_was_made_not_the_day_it_is_booked(trader, listed, desk,
                                                                                  resources):
    """A sale made on 30 December 2024 (KOSPI sell tax 0.18 % then) that reaches our books in
    2025 (0.15 %) is taxed at 2024's rate, as the broker charged it."""
    symbol = listed(price=70_000)
    user = trader()
    assert _place(user, order_body(symbol, quantity=100, price=None, order_type="market"))["status"] == "filled"
    order = _place(user, order_body(symbol, side="sell", quantity=100, price=80_000))
    assert order["status"] == "accepted" and desk.today() == dt.date(2025, 6, 16)
    reconcile.apply_fill_event(desk, {
        "account_id": user["account_id"], "user_id": user["id"], "broker_order_id": order["broker_order_id"],
        "client_order_id": order["client_order_id"], "fill_id": "late-1", "symbol": symbol, "side": "sell",
        "quantity": 100, "price": 80_000, "filled_at": "2024-12-30T10:00:00+09:00"})
    with db.service(resources.pool) as conn:
        tax = conn.execute("SELECT tax FROM fills WHERE order_id = %s", (order["id"],)).fetchone()["tax"]
    assert tax == 100 * 80_000 * 1_800_000 // 1_000_000_000 == 14_400  # not 2025's 12,000
    books_reconcile(resources, user["account_id"])
