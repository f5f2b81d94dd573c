"""Reconciliation: ask the broker about orders we are unsure of, and apply what it says.

Runs from market-clock every minute (orders `unknown`, stuck in `pending_new` or
`pending_cancel`, and working orders whose fills may have come while nobody listened) and
from the fill listener (`orders.fill` on NATS). An order is never sent again here
(style.md convention 5): we only read the broker's records.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from autostock import db
from autostock.brokers.base import Fill, OrderState, OrderStatus, Side
from autostock.errors import AppError, BrokerUnavailable
from autostock.orders import book, directory, idempotency, lifecycle, views
from autostock.orders.desk import Desk
from autostock.orders.sync import apply_status_or_replacement, replacement, request_of

log = logging.getLogger("autostock.orders.reconcile")
S = OrderState

# pending_new older than this means the process died between recording and sending.
STALE_PENDING = dt.timedelta(seconds=60)
# An order the broker never heard of, this long after we recorded it, was never placed.
NEVER_ARRIVED = dt.timedelta(minutes=5)
BATCH = 500
# broker_view's refusal for an earlier day's order at a broker that numbers orders per day.
EARLIER_DAY = "earlier_trading_day"
# What reconciliation and expiry read of an order (`broker_view` rebuilds the request from it).
CANDIDATE_COLUMNS = ("id, user_id, account_id, broker_order_id, client_order_id, state, symbol, side, quantity,"
                     " order_type, price, trading_day, created_at, now() - created_at AS age,"
                     " now() - updated_at AS unchanged_for")
# Orders we are unsure of first (their cash or shares may be held for nothing), then the
# working ones whose fills may have come while nobody listened.
_UNSURE = (S.UNKNOWN.value, S.PENDING_NEW.value, S.PENDING_CANCEL.value)
_WORKING = f"NOT (state IN {db.constant_list(_UNSURE)})"  # the sort's first key: unsure orders first


def _candidates(desk: Desk) -> Iterator[dict[str, Any]]:
    """Every open order, a page at a time (keyset on (working, created_at, id)), so that a
    platform with more open orders than a page still gets to all of them."""
    after: dict[str, Any] = {"first": True, "working": False, "at": None, "id": None}
    while True:
        with db.service(desk.resources.pool) as conn:
            page = conn.execute(
                f"SELECT {CANDIDATE_COLUMNS}, {_WORKING} AS working FROM orders"
                f" WHERE state IN {lifecycle.OPEN_STATES_SQL}"
                f" AND (%(first)s OR ({_WORKING}, created_at, id) > (%(working)s, %(at)s, %(id)s::uuid))"
                f" ORDER BY {_WORKING}, created_at, id LIMIT %(n)s", {**after, "n": BATCH}).fetchall()
        yield from page
        if len(page) < BATCH:
            return
        last = page[-1]
        after = {"first": False, "working": last["working"], "at": last["created_at"], "id": last["id"]}


def broker_view(desk: Desk, order: dict[str, Any]) -> tuple[Any, OrderStatus | None]:
    """(the account's broker, its status of `order`) — status None when it has no record.

    An order without the broker's id is looked up by what we recorded of it: the broker's
    adapter may be a new one that never saw it sent (market-clock runs in its own process)."""
    with db.service(desk.resources.pool) as conn:
        account = directory.account_by_id(conn, str(order["account_id"]))
        known = [] if order["broker_order_id"] else [r["broker_order_id"] for r in conn.execute(
            "SELECT broker_order_id FROM orders WHERE account_id = %s AND broker_order_id IS NOT NULL"
            " AND id <> %s AND trading_day = %s", (order["account_id"], order["id"], order["trading_day"])
        ).fetchall()]
    broker = desk.broker_for(account)
    if not answers_for(broker, order, desk.today()):
        raise BrokerUnavailable("the broker lists only today's orders, and numbers them afresh each day:"
                                " an earlier day's order cannot be told from today's",
                                code=EARLIER_DAY, details={"trading_day": str(order["trading_day"])})
    if order["broker_order_id"]:
        return broker, broker.order_status(order["broker_order_id"])
    return broker, broker.find_order(order["client_order_id"], request_of(order), known)


def answers_for(broker: Any, order: dict[str, Any], today: dt.date) -> bool:
    """Whether `broker` can be asked about `order`: a broker that numbers orders per day (KIS,
    LS, Kiwoom) lists today's alone, where an earlier day's number may be somebody else's order."""
    return order["trading_day"] == today or not type(broker).capabilities.get("order_numbers_per_day")


def can_tell_absent(broker: Any) -> bool:
    """Whether `broker.find_order` answering None means the broker has no such order."""
    return bool(type(broker).capabilities.get("find_order"))


def reconcile_order(desk: Desk, order: dict[str, Any]) -> str:
    """Bring one order in line with the broker; returns its state afterwards."""
    # Ages come from the database's clock (the desk's clock may be a test's or a replay's).
    if order["state"] == S.PENDING_NEW.value and order["age"] < STALE_PENDING:
        return order["state"]  # its place-order request is still running
    broker, status = broker_view(desk, order)
    absent_is_final = can_tell_absent(broker)
    successor = replacement(broker, status)
    user_id = str(order["user_id"])
    with db.tenant(desk.resources.pool, user_id) as conn:
        current = book.lock_order(conn, str(order["account_id"]), str(order["id"]))
        if status is not None:
            current, events = apply_status_or_replacement(conn, current, status, successor, desk.costs,
                                                          on=desk.today())
            if (current["state"] == S.PENDING_CANCEL.value and status.state.is_open
                    and order["unchanged_for"] > STALE_PENDING):
                # The cancel never reached the broker (its call and the status read after it
                # failed): the order is working, and the user may cancel it again.
                current, ev = lifecycle.transition(conn, current, lifecycle.working_state(current),
                                                   event="cancel_rejected", data={"source": "reconcile"})
                events.append(ev)
        elif order["age"] > NEVER_ARRIVED and current["state"] in (
                S.UNKNOWN.value, S.PENDING_NEW.value) and absent_is_final:
            current, ev = lifecycle.transition(
                conn, current, S.REJECTED, event="rejected", reserved_cash=0, reserved_quantity=0,
                reject_code="not_at_broker", reject_reason="the broker has no record of this order",
                data={"source": "reconcile"})
            events = [ev]
        else:
            events = []
        if events:
            idempotency.settle_for_order(conn, user_id, str(current["id"]), views.order(current))
    for ev in events:
        desk.publish(ev.event, views.event_payload(ev))
    return current["state"]


def reconcile_open_orders(desk: Desk) -> dict[str, int]:
    """One pass over every open order; a broker that fails is tried again next minute."""
    counts = {"checked": 0, "changed": 0, "failed": 0}
    for order in _candidates(desk):
        counts["checked"] += 1
        try:
            if reconcile_order(desk, order) != order["state"]:
                counts["changed"] += 1
        except AppError as e:  # one broker's outage must not stop the others
            counts["failed"] += 1
            log.warning("reconcile failed", extra={"order_id": str(order["id"]), "error": e.code})
        except Exception:  # nor one order's fault (a CHECK its books refuse): the rest go on
            counts["failed"] += 1
            log.exception("reconcile failed", extra={"order_id": str(order["id"])})
    return counts


def apply_fill_event(desk: Desk, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply one `orders.fill` message (the paper broker's JSON) to our books; idempotent."""
    account_id, user_id = str(payload["account_id"]), str(payload["user_id"])
    with db.tenant(desk.resources.pool, user_id) as conn:
        row = conn.execute("SELECT id FROM orders WHERE account_id = %s AND (broker_order_id = %s"
                           " OR client_order_id = %s) ORDER BY client_order_id = %s DESC, trading_day DESC LIMIT 1",
                           (account_id, payload.get("broker_order_id"), payload.get("client_order_id"),
                            payload.get("client_order_id"))
                           ).fetchone()
        if row is None:
            return {"applied": False, "reason": "no such order"}
        order = book.lock_order(conn, account_id, str(row["id"]))
        if not order["broker_order_id"]:
            order = lifecycle.update(conn, order, broker_order_id=payload["broker_order_id"])
        events: list[lifecycle.OrderEvent] = []
        if order["state"] in (S.PENDING_NEW.value, S.UNKNOWN.value):
            order, first = lifecycle.transition(conn, order, S.ACCEPTED, data={"source": "fill_event"})
            events.append(first)
        fill = Fill(broker_order_id=payload["broker_order_id"], fill_id=str(payload["fill_id"]),
                    symbol=payload["symbol"], side=Side(payload["side"]), quantity=int(payload["quantity"]),
                    price=int(payload["price"]),
                    filled_at=dt.datetime.fromisoformat(payload["filled_at"]) if payload.get("filled_at")
                    else None)
        before = int(order["filled_quantity"])
        order, more = book.apply_fill(conn, order, fill, desk.costs, on=desk.today())
        events += more
    for ev in events:
        desk.publish(ev.event, views.event_payload(ev))
    return {"applied": int(order["filled_quantity"]) > before, "order_id": str(order["id"]),
            "status": order["state"]}


def on_fill_message(desk: Desk, topic: str, body: bytes) -> dict[str, Any]:
    """The NATS connector's `orders.fill` delivery: parse and apply it.

    The caller has proved it is our connector (contract.require_internal); `topic` only says
    which delivery this is.
    """
    from autostock.contract import parse_json_object
    from autostock.errors import ValidationError
    from autostock.events import ORDER_FILL
    if topic.strip() != ORDER_FILL:
        raise ValidationError(f"orders takes {ORDER_FILL} deliveries, not {topic!r}", code="unknown_topic")
    payload = parse_json_object(body)
    missing = [k for k in ("account_id", "user_id", "broker_order_id", "fill_id", "symbol", "side",
                           "quantity", "price") if payload.get(k) in (None, "")]
    if missing:
        raise ValidationError(f"fill message lacks {', '.join(missing)}", code="invalid_fill_message")
    return apply_fill_event(desk, payload)
