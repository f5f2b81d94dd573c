"""Lost answers: an order whose reply never came is `unknown` until the broker's records say
what it is. Nothing is ever sent twice."""

from __future__ import annotations

import pytest

from autostock import accounts, db, orders, timetable
from autostock.brokers.sim.exchange import Exchange
from autostock.orders import entry, idempotency, kill_switch, reconcile, routing
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


def test_an_unknown_order_is_found_by_a_broker_adapter_that_never_sent_it(kis_trader, kis_env, resources,
                                                                         monkeypatch):  # noqa: F811
    """market-clock reconciles in its own process, with an adapter that did not send the order
    and remembers nothing: the order is matched on what we recorded, not marked `not_at_broker`
    (which would free its cash while the broker works it)."""
    kis_env.real.faults.arm("drop_after_order")
    reply = invoke("place-order", "POST", PATH,
                   order_body("005930", quantity=5, price=60_000, account_id=kis_trader["account_id"]),
                   token=kis_trader["token"])
    assert reply.json["status"] == "unknown"
    fresh = kis_env.broker(kis_trader["credentials"])      # another process's adapter
    monkeypatch.setitem(routing.ADAPTERS, "kis", lambda res, acct, clock: fresh)
    market_clock = orders.Desk(resources=resources, brokers=routing.BrokerRouter(
        resources, routing.ADAPTERS, clock=kis_env.exchange.clock.now), clock=kis_env.exchange.clock.now, quote_ttl=0)
    orders.install(market_clock)
    with db.service(resources.pool) as conn:  # past NEVER_ARRIVED: the old code gave up here
        conn.execute("UPDATE orders SET created_at = created_at - interval '6 minutes' WHERE id = %s",
                     (reply.json["id"],))
    timetable.run_due(resources, only="orders.reconcile")
    [truth] = kis_env.exchange.day_orders(kis_trader["credentials"].account_number)
    got = invoke("orders", "GET", f"{PATH}/{reply.json['id']}", token=kis_trader["token"]).json
    assert got["status"] == "accepted" and got["broker_order_id"] == f"{truth.order_id:010d}"
    assert got["reserved_cash"] > 0
    assert _order_posts(kis_env) == 1


def test_one_order_that_fails_does_not_stop_the_others(trader, listed, desk, resources, monkeypatch):
    """Reconciliation goes through every open order, a page at a time, and an order that raises
    (say, a CHECK its books refuse) is counted and skipped: the orders after it still change."""
    symbol = listed(price=70_000)
    user = trader()
    placed = [invoke("place-order", "POST", PATH, order_body(symbol, quantity=1, price=60_000 + 100 * i),
                     token=user["token"]).json for i in range(5)]
    assert {o["status"] for o in placed} == {"accepted"}
    with db.service(resources.pool) as conn:  # the broker cancels them all; nobody told us
        conn.execute("UPDATE paper_orders SET state = 'cancelled', cancelled_quantity = quantity"
                     " WHERE account_id = %s", (user["account_id"],))
    broken = placed[1]["id"]
    real = reconcile.reconcile_order
    seen: list[str] = []

    def flaky(desk_, order):
        seen.append(str(order["id"]))
        if str(order["id"]) == broken:
            raise RuntimeError("a CHECK the books refuse")
        return real(desk_, order)
    monkeypatch.setattr(reconcile, "reconcile_order", flaky)
    monkeypatch.setattr(reconcile, "BATCH", 2)
    counts = reconcile.reconcile_open_orders(desk)
    assert counts["failed"] >= 1 and broken in seen  # other tests' orders are in this database too
    assert len(seen) == len(set(seen)) == counts["checked"], "each open order once, across pages"
    states = {o["id"]: invoke("orders", "GET", f"{PATH}/{o['id']}", token=user["token"]).json["status"]
              for o in placed}
    assert states.pop(broken) == "accepted"
    assert set(states.values()) == {"cancelled"}


def test_a_kill_switch_engaged_while_an_order_is_on_its_way_keeps_it_from_the_broker(
        kis_trader, kis_env, resources, user_factory):  # noqa: F811
    """Engaged between recording an order and sending it, the switch finds nothing at the
    broker to cancel; the order must not be sent after it."""
    admin = user_factory()
    desk = orders.current(resources)
    body = order_body("005930", quantity=5, price=60_000, account_id=kis_trader["account_id"])
    recorded = entry._record_once_ready(desk, kis_trader["id"], entry.parse(body), None, "")
    try:
        kill_switch.engage(desk, admin["id"], scope="user", user_id=kis_trader["id"], reason="runaway bot")
        status, answer = entry._route(desk, recorded, None)
    finally:
        kill_switch.lift(desk, admin["id"], scope="user", user_id=kis_trader["id"])
    assert (status, answer["status"], answer["reject_code"]) == (201, "rejected", "kill_switch_user")
    assert answer["reserved_cash"] == 0
    assert _order_posts(kis_env) == 0 and kis_env.exchange.day_orders(kis_trader["credentials"].account_number) == []


def test_a_key_whose_request_died_after_recording_gets_the_orders_fate(kis_trader, kis_env, resources):  # noqa: F811
    """The process dies after recording the order under its key and before sending it: the
    key has no answer. Reconciliation settles the order (never at the broker: rejected) and
    stores that answer under the key, so a retry learns it instead of waiting on `in flight`
    forever (and keys without an answer are never pruned)."""
    desk = orders.current(resources)
    body = order_body("005930", quantity=5, price=60_000, account_id=kis_trader["account_id"])
    recorded = entry._record_once_ready(desk, kis_trader["id"], entry.parse(body), "died-1",
                                        idempotency.request_hash(body))
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE orders SET created_at = created_at - interval '6 minutes' WHERE id = %s",
                     (recorded.order["id"],))
    timetable.run_due(resources, only="orders.reconcile")
    retry = invoke("place-order", "POST", PATH, body, token=kis_trader["token"], headers={"Idempotency-Key": "died-1"})
    assert retry.status == 201
    assert (retry.json["id"], retry.json["status"], retry.json["reject_code"]) == (
        str(recorded.order["id"]), "rejected", "not_at_broker")
    assert _order_posts(kis_env) == 0


def test_a_modify_at_a_broker_that_replaces_the_order_follows_the_new_one(kis_trader, kis_env,
                                                                          resources):  # noqa: F811
    """KIS answers a modify with a new order number and cancels the old one: our order follows
    the new number (the old one's `cancelled` closed it while the new one worked, its cash freed
    and its fills never booked). A partly filled order cannot follow: 409, cancel and place anew."""
    account = kis_trader["credentials"].account_number
    placed = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_000,
                                                            account_id=kis_trader["account_id"]),
                    token=kis_trader["token"]).json
    assert placed["status"] == "accepted"
    changed = invoke("orders", "PATCH", f"{PATH}/{placed['id']}", {"price": 61_000}, token=kis_trader["token"])
    assert changed.status == 200, changed
    working = [o for o in kis_env.exchange.day_orders(account) if o.status == "open"]
    assert [(o.price, o.quantity) for o in working] == [(61_000, 5)]
    assert (changed.json["status"], changed.json["broker_order_id"]) == ("accepted", f"{working[0].order_id:010d}")
    assert changed.json["reserved_cash"] == 5 * 61_000 + 5 * 61_000 * 140_527 // 1_000_000_000
    assert kis_env.exchange.trade("005930", 61_000, 5) == 5
    timetable.run_due(resources, only="orders.reconcile")
    got = invoke("orders", "GET", f"{PATH}/{placed['id']}", token=kis_trader["token"]).json
    assert (got["status"], got["filled_quantity"], got["average_fill_price"]) == ("filled", 5, 61_000)
    books_reconcile(resources, kis_trader["account_id"])

    partly = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_500,
                                                            account_id=kis_trader["account_id"]),
                    token=kis_trader["token"]).json
    assert kis_env.exchange.trade("005930", 60_500, 2) == 2
    timetable.run_due(resources, only="orders.reconcile")
    refused = invoke("orders", "PATCH", f"{PATH}/{partly['id']}", {"price": 60_000}, token=kis_trader["token"])
    assert (refused.status, refused.error_code) == (409, "order_not_modifiable")


def test_an_order_number_the_broker_gave_on_an_earlier_day_is_taken_again(kis_trader, kis_env,
                                                                          resources):  # noqa: F811
    """Korean brokers number orders per day (KIS's ODNO starts again each morning), and a fill
    is named by its order's number and the quantity filled so far. Yesterday's order with
    today's first order's number must neither keep today's order from being accepted nor make
    its fill look applied before (a lost fill)."""
    import datetime as dt

    from autostock.brokers.base import Fill, Side
    from autostock.market.costs import CostModel
    from autostock.orders import book
    first = invoke("place-order", "POST", PATH, order_body("005930", quantity=1, price=60_000,
                                                           account_id=kis_trader["account_id"]),
                   token=kis_trader["token"]).json  # opens the books
    assert invoke("orders", "POST", f"{PATH}/{first['id']}/cancel", token=kis_trader["token"]).status == 200
    number = f"{kis_env.exchange.next_order_id():010d}"
    today = dt.date.fromisoformat(first["trading_day"])
    yesterday = today - dt.timedelta(days=1)
    with db.tenant(resources.pool, kis_trader["id"]) as conn:
        book.create_filled(
            conn, {"user_id": kis_trader["id"], "account_id": kis_trader["account_id"], "client_order_id": "yesterday",
                   "symbol": "005930", "market": "KOSPI", "product": "stock", "side": "buy", "order_type": "limit",
                   "time_in_force": "day", "quantity": 5, "price": 59_000, "reserve_price": 59_000,
                   "reserved_cash": 295_041, "reserved_quantity": 0, "broker": "kis", "trading_day": yesterday},
            broker_order_id=number, costs=CostModel(), on=yesterday, holding=book.Holding(False, 0, 0),
            fill=Fill(number, f"{number}:5", "005930", Side.BUY, 5, 59_000,
                      dt.datetime.combine(yesterday, dt.time(10), dt.timezone(dt.timedelta(hours=9)))))

    placed = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_000,
                                                            account_id=kis_trader["account_id"]),
                    token=kis_trader["token"])
    assert placed.status == 201, placed
    assert (placed.json["status"], placed.json["broker_order_id"]) == ("accepted", number)
    assert kis_env.exchange.trade("005930", 60_000, 5) == 5
    timetable.run_due(resources, only="orders.reconcile")
    got = invoke("orders", "GET", f"{PATH}/{placed.json['id']}", token=kis_trader["token"]).json
    assert (got["status"], got["filled_quantity"], got["average_fill_price"]) == ("filled", 5, 60_000)
    books = books_reconcile(resources, kis_trader["account_id"])
    assert books["held"] == {"005930": 10}  # yesterday's five and today's five


def test_a_modify_whose_answer_was_lost_is_followed_to_the_brokers_new_order(kis_trader, kis_env,
                                                                              resources):  # noqa: F811
    """KIS took the modify (a new order at the new price, the old one cancelled) but its answer
    never came: our order still has the old number, which KIS now reports cancelled.
    Reconciliation follows the new order instead of closing ours (which freed its cash while
    the new one worked, and never booked its fills)."""
    placed = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_000,
                                                            account_id=kis_trader["account_id"]),
                    token=kis_trader["token"]).json
    kis_env.real.faults.arm("drop_after_order")
    lost = invoke("orders", "PATCH", f"{PATH}/{placed['id']}", {"price": 61_000}, token=kis_trader["token"])
    assert lost.status >= 500, lost
    account = kis_trader["credentials"].account_number
    working = [o for o in kis_env.exchange.day_orders(account) if o.status == "open"]
    assert [(o.price, o.quantity) for o in working] == [(61_000, 5)]  # KIS did replace it
    new_number = f"{working[0].order_id:010d}"

    timetable.run_due(resources, only="orders.reconcile")
    got = invoke("orders", "GET", f"{PATH}/{placed['id']}", token=kis_trader["token"]).json
    assert (got["status"], got["broker_order_id"], got["price"]) == ("accepted", new_number, 61_000)
    assert got["reserved_cash"] == 5 * 61_000 + 5 * 61_000 * 140_527 // 1_000_000_000
    assert kis_env.exchange.trade("005930", 61_000, 5) == 5
    timetable.run_due(resources, only="orders.reconcile")
    got = invoke("orders", "GET", f"{PATH}/{placed['id']}", token=kis_trader["token"]).json
    assert (got["status"], got["filled_quantity"], got["average_fill_price"]) == ("filled", 5, 61_000)
    books_reconcile(resources, kis_trader["account_id"])


def test_only_a_modify_replaces_an_order_in_the_brokers_day_listing():
    """Each broker's day listing names the order a modify replaced; a cancel's own record and a
    new order name none."""
    import datetime as dt

    from autostock.brokers.kis import parse as kis
    from autostock.brokers.kiwoom import parse as kiwoom
    from autostock.brokers.ls import parse as ls
    day = dt.date(2025, 6, 16)
    assert kis.order_status({"odno": "0000000009", "orgn_odno": "0000000007", "cncl_yn": "N"}).replaces == "0000000007"
    assert kis.order_status({"odno": "0000000010", "orgn_odno": "0000000009", "cncl_yn": "Y"}).replaces == ""
    assert kis.order_status({"odno": "0000000011", "orgn_odno": "", "cncl_yn": "N"}).replaces == ""
    assert ls.order_status({"ordno": 9, "orgordno": 7, "ordgb": "02"}, day).replaces == "7"
    assert ls.order_status({"ordno": 10, "orgordno": 9, "ordgb": "03"}, day).replaces == ""
    assert ls.order_status({"ordno": 11, "orgordno": 0, "ordgb": "01"}, day).replaces == ""
    assert kiwoom.order_status({"ord_no": "0000009", "orig_ord_no": "0000007", "io_tp_nm": "+매수정정"},
                               day).replaces == "0000007"
    assert kiwoom.order_status({"ord_no": "0000010", "orig_ord_no": "0000009", "io_tp_nm": "+매수취소"},
                               day).replaces == ""


def _lose_a_modify(kis_trader, kis_env, body: dict) -> tuple[dict, str]:  # noqa: F811
    """Place 5 at 60,000, then a modify (`body`) that KIS takes but whose answer is lost: the
    order and the broker's new number."""
    placed = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_000,
                                                            account_id=kis_trader["account_id"]),
                    token=kis_trader["token"]).json
    return placed, _modify_lost(kis_trader, kis_env, placed, body)


def _modify_lost(kis_trader, kis_env, placed: dict, body: dict) -> str:  # noqa: F811
    kis_env.real.faults.arm("drop_after_order")
    assert invoke("orders", "PATCH", f"{PATH}/{placed['id']}", body, token=kis_trader["token"]).status >= 500
    account = kis_trader["credentials"].account_number
    working = [o for o in kis_env.exchange.day_orders(account) if o.status == "open"]
    return f"{working[-1].order_id:010d}"


def test_a_cancel_after_a_lost_modify_finds_the_brokers_new_order(kis_trader, kis_env, resources):  # noqa: F811
    """The cancel goes to the old number, which KIS already cancelled for the modify: our order
    is not closed while the new one works; it follows the new one, and the next cancel takes."""
    placed, new_number = _lose_a_modify(kis_trader, kis_env, {"price": 61_000})
    first = invoke("orders", "POST", f"{PATH}/{placed['id']}/cancel", token=kis_trader["token"]).json
    assert (first["status"], first["broker_order_id"], first["price"]) == ("accepted", new_number, 61_000)
    assert first["reserved_cash"] > 0
    again = invoke("orders", "POST", f"{PATH}/{placed['id']}/cancel", token=kis_trader["token"]).json
    assert (again["status"], again["reserved_cash"]) == ("cancelled", 0)
    account = kis_trader["credentials"].account_number
    assert [o for o in kis_env.exchange.day_orders(account) if o.status == "open"] == []
    books_reconcile(resources, kis_trader["account_id"])


def test_an_order_with_fills_that_the_broker_replaced_stays_open_for_an_operator(kis_trader, kis_env,
                                                                                resources):  # noqa: F811
    """2 of 5 filled at KIS before our modify (to 3 at 59,000) reached it, and its answer was
    lost. The replacement's fills count from zero and cannot be added to ours: the old number's
    fills are booked and the order stays open, holding its means, instead of being closed."""
    placed = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_000,
                                                            account_id=kis_trader["account_id"]),
                    token=kis_trader["token"]).json
    assert kis_env.exchange.trade("005930", 60_000, 2) == 2  # we have not heard of these yet
    _modify_lost(kis_trader, kis_env, placed, {"price": 59_000, "quantity": 3})
    timetable.run_due(resources, only="orders.reconcile")
    got = invoke("orders", "GET", f"{PATH}/{placed['id']}", token=kis_trader["token"]).json
    assert (got["status"], got["filled_quantity"], got["broker_order_id"]) == (
        "partially_filled", 2, placed["broker_order_id"])
    assert got["reserved_cash"] > 0
    books_reconcile(resources, kis_trader["account_id"])


def test_an_earlier_days_open_order_is_not_taken_for_todays_with_its_number(kis_trader, kis_env,
                                                                           resources):  # noqa: F811
    """KIS lists today's orders alone, numbered afresh: an order of an earlier day that is still
    open with us (its expiry waited for the broker) must not take today's fills of the order now
    holding its number, nor have expiry cancel that order at the broker."""
    import datetime as dt

    from autostock.orders import lifecycle
    first = invoke("place-order", "POST", PATH, order_body("005930", quantity=1, price=60_000,
                                                           account_id=kis_trader["account_id"]),
                   token=kis_trader["token"]).json  # opens the books
    assert invoke("orders", "POST", f"{PATH}/{first['id']}/cancel", token=kis_trader["token"]).status == 200
    number = f"{kis_env.exchange.next_order_id():010d}"
    yesterday = dt.date.fromisoformat(first["trading_day"]) - dt.timedelta(days=1)
    with db.tenant(resources.pool, kis_trader["id"]) as conn:
        old, _ = lifecycle.create(
            conn, ((lifecycle.S.ACCEPTED, {}),), broker_order_id=number, user_id=kis_trader["id"],
            account_id=kis_trader["account_id"], client_order_id="yesterday", symbol="005930", market="KOSPI",
            product="stock", side="buy", order_type="limit", time_in_force="day", quantity=5, price=60_000,
            reserve_price=60_000, reserved_cash=300_042, reserved_quantity=0, broker="kis", trading_day=yesterday)
    today = invoke("place-order", "POST", PATH, order_body("005930", quantity=5, price=60_000,
                                                           account_id=kis_trader["account_id"]),
                   token=kis_trader["token"]).json
    assert today["broker_order_id"] == number
    assert kis_env.exchange.trade("005930", 60_000, 5) == 5
    timetable.run_due(resources, only="orders.reconcile")
    with db.service(resources.pool) as conn:
        fills = {str(r["order_id"]): r["n"] for r in conn.execute(
            "SELECT order_id, count(*) AS n FROM fills WHERE account_id = %s GROUP BY order_id",
            (kis_trader["account_id"],)).fetchall()}
    assert fills == {today["id"]: 1}
    timetable.run_due(resources, only="orders.expire")
    got = invoke("orders", "GET", f"{PATH}/{old['id']}", token=kis_trader["token"]).json
    assert (got["status"], got["filled_quantity"], got["reserved_cash"]) == ("expired", 0, 0)
    books_reconcile(resources, kis_trader["account_id"])
