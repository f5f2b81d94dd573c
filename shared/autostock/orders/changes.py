"""Cancel and modify: ask the broker, then record what it says (its word wins).

Cancel is idempotent: a second cancel of a cancelled order returns it without calling the
broker; of an order whose cancel is pending, it asks the broker again (the first request may
never have reached it) and ends as the broker reports. A cancel that races a fill ends as the
broker reports it.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from autostock import db
from autostock.brokers.base import OrderState, UnknownOutcome
from autostock.errors import AppError, Conflict, NotFound, ValidationError
from autostock.orders import book, directory, lifecycle, pricing, views
from autostock.orders.desk import Desk
from autostock.orders.sync import apply_status_or_replacement, replacement

log = logging.getLogger("autostock.orders")
S = OrderState


def _owned(conn: psycopg.Connection, user_id: str, order_id: str) -> dict[str, Any]:
    if not directory._UUID.match(order_id or ""):  # noqa: SLF001 - one uuid pattern for the package
        raise NotFound("no such order", code="order_not_found")
    row = conn.execute("SELECT account_id FROM orders WHERE id = %s AND user_id = %s",
                       (order_id, user_id)).fetchone()
    if row is None:
        raise NotFound("no such order", code="order_not_found")
    return book.lock_order(conn, str(row["account_id"]), order_id)


def cancel_order(desk: Desk, user_id: str, order_id: str) -> dict[str, Any]:
    """Cancel what is left of an order; idempotent."""
    with db.tenant(desk.resources.pool, user_id) as conn:
        order = _owned(conn, user_id, order_id)
        if order["state"] in (S.CANCELLED.value, S.EXPIRED.value):
            return views.order(order)
        if order["state"] not in lifecycle.OPEN_STATES:
            raise Conflict(f"the order is {order['state']} and cannot be cancelled",
                           code="order_not_open", details={"status": order["state"]})
        if not order["broker_order_id"]:
            raise Conflict("the broker has not confirmed this order yet; cancel it once it is known",
                           code="order_not_confirmed", details={"status": order["state"]})
        account = directory.account_terms(conn, user_id, str(order["account_id"]))
        # A cancel already pending asks the broker again (the first may never have reached it).
        again = order["state"] == S.PENDING_CANCEL.value
        if not again:
            order, ev = lifecycle.transition(conn, order, S.PENDING_CANCEL, event="cancel_requested")
    if not again:
        desk.publish(ev.event, views.event_payload(ev))
    broker = desk.broker_for(account)
    try:
        broker.cancel_order(order["broker_order_id"])
        cancelled = True
    except AppError as e:  # the broker refused (already filled?) or did not answer: ask it
        log.info("cancel not confirmed", extra={"order_id": order_id, "error": e.code})
        cancelled = False
    return _resync(desk, user_id, order_id, broker, cancelled)


def _resync(desk: Desk, user_id: str, order_id: str, broker: Any, cancelled: bool) -> dict[str, Any]:
    try:
        status = broker.order_status(_broker_id(desk, user_id, order_id))
        successor = replacement(broker, status)  # an earlier modify's answer may have been lost
    except AppError:
        status = successor = None
    with db.tenant(desk.resources.pool, user_id) as conn:
        order = _owned(conn, user_id, order_id)
        events: list[lifecycle.OrderEvent] = []
        if status is not None:
            order, events = apply_status_or_replacement(conn, order, status, successor, desk.costs,
                                                        on=desk.today())
        if order["state"] == S.PENDING_CANCEL.value and status is not None:
            # The broker still works the order: the cancel did not take.
            order, ev = lifecycle.transition(conn, order, lifecycle.working_state(order), event="cancel_rejected")
            events.append(ev)
        elif order["state"] == S.PENDING_CANCEL.value and cancelled:
            order, ev = lifecycle.close_rest(conn, order, S.CANCELLED, event="cancelled")
            events.append(ev)
    for ev in events:
        desk.publish(ev.event, views.event_payload(ev))
    return views.order(order)


def _broker_id(desk: Desk, user_id: str, order_id: str) -> str:
    with db.tenant(desk.resources.pool, user_id) as conn:
        row = conn.execute("SELECT broker_order_id FROM orders WHERE id = %s", (order_id,)).fetchone()
    return row["broker_order_id"]


def modify_order(desk: Desk, user_id: str, order_id: str, *, quantity: int | None,
                 price: int | None) -> dict[str, Any]:
    """Reprice a working limit order and/or reduce the quantity still working.

    The larger of the old and the new reservation is held while the broker changes the order,
    so an order placed meanwhile cannot spend the cash the new price needs; afterwards the
    order is re-read, since fills may have come in between."""
    if quantity is None and price is None:
        raise ValidationError("give a new price, a new quantity, or both", code="nothing_to_modify")
    with db.tenant(desk.resources.pool, user_id) as conn:
        order = _owned(conn, user_id, order_id)
        _check_modifiable(order)
        left = book.working(order)
        new_quantity = pricing.positive_quantity(quantity) if quantity is not None else left
        if new_quantity > left:
            raise ValidationError(f"only {left} shares are still working; a modify can reduce them",
                                  code="invalid_quantity", details={"remaining": left})
        account = directory.account_terms(conn, user_id, str(order["account_id"]))
        instrument = directory.instrument(conn, order["symbol"])
        new_price = int(price) if price is not None else int(order["price"])
        priced = pricing.price_order(desk, account, instrument, pricing.OrderType.LIMIT,
                                     pricing.Side(order["side"]), new_quantity, new_price, on=desk.today())
        _check_modify_power(conn, order, priced.reservation)
        if priced.reservation > int(order["reserved_cash"]) and order["side"] == "buy":
            lifecycle.update(conn, order, reserved_cash=priced.reservation)
    # Built outside the transaction: a real broker's adapter reads its credentials from the database.
    broker = desk.broker_for(account)
    if type(broker).capabilities.get("modify_creates_new_id") and int(order["filled_quantity"]):
        # The broker replaces the order with a new one whose fills start again from zero; ours
        # would not add up. Cancelling the rest and placing anew says the same plainly.
        _release_held(desk, user_id, order_id)
        raise Conflict("this broker replaces a modified order with a new one, which a partly filled"
                       " order cannot follow; cancel what is left and place a new order",
                       code="order_not_modifiable", details={"filled_quantity": int(order["filled_quantity"])})
    try:
        ack = broker.modify_order(order["broker_order_id"], new_quantity, new_price)
    except UnknownOutcome:
        raise  # the broker may work the new price: the larger reservation stays
    except AppError:
        _release_held(desk, user_id, order_id)
        raise
    with db.tenant(desk.resources.pool, user_id) as conn:
        order = _owned(conn, user_id, order_id)
        evs: list[lifecycle.OrderEvent] = []
        if order["state"] in _MODIFIABLE:  # else a fill or a close came first: the resync says what
            # Fills since the first read are not working. A broker that replaces the order answers
            # with the new one's id: follow it, or the old id's `cancelled` would close our order
            # while the new one works.
            order, evs = book.reprice(conn, order, price=new_price, keep=min(new_quantity, book.working(order)),
                                      costs=desk.costs, data={"price": new_price, "quantity": new_quantity},
                                      broker_order_id=ack.broker_order_id)
    for ev in evs:
        desk.publish(ev.event, views.event_payload(ev))
    return _resync(desk, user_id, order_id, broker, False)


_MODIFIABLE = (S.ACCEPTED.value, S.PARTIALLY_FILLED.value)


def _check_modifiable(order: dict[str, Any]) -> None:
    if order["state"] not in _MODIFIABLE:
        raise Conflict(f"the order is {order['state']} and cannot be modified", code="order_not_open",
                       details={"status": order["state"]})
    if order["order_type"] != "limit":
        raise Conflict("only limit orders can be modified", code="order_not_modifiable")


def _release_held(desk: Desk, user_id: str, order_id: str) -> None:
    """The broker refused the modify: the order keeps its old price, and holds back what that needs."""
    with db.tenant(desk.resources.pool, user_id) as conn:
        order = _owned(conn, user_id, order_id)
        if order["state"] in _MODIFIABLE and order["side"] == "buy":
            lifecycle.update(conn, order, reserved_cash=book.buy_reservation(
                book.working(order), int(order["reserve_price"]), desk.costs))


def _check_modify_power(conn: psycopg.Connection, order: dict[str, Any], reservation: int) -> None:
    if order["side"] != "buy":
        return
    row = conn.execute(
        "SELECT b.cash - coalesce(sum(o.reserved_cash), 0) AS power FROM account_books b"
        " LEFT JOIN orders o ON o.account_id = b.account_id AND o.side = 'buy' AND o.id <> %s"
        f"  AND o.state IN {lifecycle.OPEN_STATES_SQL} WHERE b.account_id = %s GROUP BY b.cash",
        (order["id"], order["account_id"])).fetchone()
    if reservation > int(row["power"]):
        from autostock.errors import BrokerRejected
        raise BrokerRejected(f"the new price needs {reservation} KRW; buying power is {row['power']} KRW",
                             code="insufficient_buying_power",
                             details={"required": reservation, "buying_power": int(row["power"])})


def parse_modify(body: dict[str, Any]) -> dict[str, int | None]:
    """The body of a modify: a new `price` and/or `quantity` (integers)."""
    from autostock.contract import require_fields
    data = require_fields(body, {}, {"price": int, "quantity": int})
    return {"price": data.get("price"), "quantity": data.get("quantity")}
