"""Bringing our record of an order in line with the broker's: the broker's word wins.

Used right after an order is accepted (a marketable order may already be filled), by the
fill listener, and by market-clock's reconciliation of `unknown` and open orders.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import psycopg

from autostock.brokers.base import Fill, OrderRequest, OrderState, OrderStatus, OrderType, Side
from autostock.market.costs import CostModel
from autostock.orders import book, lifecycle

S = OrderState
log = logging.getLogger("autostock.orders.sync")
_CLOSED_BY_BROKER = {S.CANCELLED: "cancelled", S.EXPIRED: "expired", S.REJECTED: "rejected"}


def request_of(order: dict[str, Any]) -> OrderRequest:
    """The request an order row stands for: what order entry sends, and what reconciliation
    looks a lost order up by."""
    return OrderRequest(symbol=order["symbol"], side=Side(order["side"]), quantity=int(order["quantity"]),
                        order_type=OrderType(order["order_type"]), price=int(order["price"]),
                        client_order_id=order["client_order_id"])


def _synthetic_fill(order: dict[str, Any], status: OrderStatus) -> Fill | None:
    """A broker that reports only totals: the missing quantity becomes one fill at the average."""
    missing = status.filled_quantity - int(order["filled_quantity"])
    if missing <= 0:
        return None
    value = status.average_fill_price * status.filled_quantity - int(order["filled_value"])
    price = max(1, value // missing)
    return Fill(broker_order_id=status.broker_order_id,
                fill_id=f"{status.broker_order_id}:total:{status.filled_quantity}",
                symbol=order["symbol"], side=order["side"], quantity=missing, price=price)


def _new_fills(conn: psycopg.Connection, order: dict[str, Any], status: OrderStatus) -> list[Fill]:
    """The broker's fills we have not applied. When they do not add up to the broker's total
    (a broker that reports one cumulative fill whose id changes as it grows, like KIS), the
    difference becomes one fill at the implied price instead."""
    filled = int(order["filled_quantity"])
    if not status.fills and status.filled_quantity <= filled:
        return []  # the broker reports nothing we have not applied
    known: set[str] = set()
    if filled:  # else there is no fill row: `book.apply_fill` writes it with filled_quantity
        known = {r["broker_fill_id"] for r in conn.execute(
            "SELECT broker_fill_id FROM fills WHERE order_id = %s", (order["id"],)).fetchall()}
    fresh = [f for f in status.fills if f.fill_id not in known]
    if filled + sum(f.quantity for f in fresh) == status.filled_quantity:
        return fresh
    extra = _synthetic_fill(order, status)
    return [extra] if extra is not None else []


def apply_status(conn: psycopg.Connection, order: dict[str, Any], status: OrderStatus,
                 costs: CostModel, *, on: dt.date, close: bool = True,
                 holding: book.Holding | None = None) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """Apply the broker's view of `order` (locked, book locked): fills first, then the state.

    `close=False` applies fills only (the caller closes the order its own way, e.g. expiry).
    `holding`: the account's position in the symbol, when the caller read it under the lock
    (used for the first fill; a later one reads what the first left)."""
    events: list[lifecycle.OrderEvent] = []
    if not order["broker_order_id"] and status.broker_order_id:
        order = lifecycle.update(conn, order, broker_order_id=status.broker_order_id)
    if order["state"] in (S.UNKNOWN.value, S.PENDING_NEW.value) and status.state != S.REJECTED:
        order, ev = lifecycle.transition(conn, order, S.ACCEPTED, event="accepted",
                                         data={"source": "broker_status"}, accepted_at=lifecycle.NOW)
        events.append(ev)
    for fill in _new_fills(conn, order, status):
        order, evs = book.apply_fill(conn, order, fill, costs, on=on, holding=holding)
        holding = None
        events += evs
    closing = _CLOSED_BY_BROKER.get(status.state)
    if close and closing and order["state"] in lifecycle.OPEN_STATES:
        left = int(order["quantity"]) - int(order["filled_quantity"])
        order, ev = lifecycle.transition(
            conn, order, status.state, event=closing, data={"source": "broker_status"},
            cancelled_quantity=left if status.state != S.REJECTED else int(order["cancelled_quantity"]),
            reserved_cash=0, reserved_quantity=0,
            reject_reason=status.reason or order["reject_reason"])
        events.append(ev)
    return order, events


def replacement(broker: Any, status: OrderStatus | None) -> OrderStatus | None:
    """The order that replaced `status`'s at a broker whose modify is a new order (KIS, LS,
    Kiwoom), followed through any later modify, when `status` shows the old one cancelled;
    None otherwise. A modify whose answer was lost leaves our order on the old number, which
    the broker then reports cancelled while the new one works."""
    if (status is None or status.state is not S.CANCELLED
            or not type(broker).capabilities.get("modify_creates_new_id")):
        return None
    by_original = {s.replaces: s for s in broker.orders_today() if s.replaces}
    current, seen = status, {status.broker_order_id}
    while (following := by_original.get(current.broker_order_id)) is not None and following.broker_order_id not in seen:
        seen.add(following.broker_order_id)
        current = following
    return None if current is status else current


def apply_status_or_replacement(conn: psycopg.Connection, order: dict[str, Any], status: OrderStatus,
                                successor: OrderStatus | None, costs: CostModel, *,
                                on: dt.date) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """`apply_status`, unless the broker replaced the order (`successor`, from `replacement`):
    then our order moves to the replacement (its number, price and working quantity, as a
    modify that got its answer does) and takes the replacement's status.

    An order with fills cannot follow (the replacement's fills count from zero, ours would not
    add up; a modify of such an order is refused for that reason): its fills are applied, and it
    stays open with its reservation, logged for an operator, rather than closed while the
    broker works the replacement."""
    if (successor is None or order["broker_order_id"] != status.broker_order_id
            or order["state"] not in lifecycle.OPEN_STATES):
        return apply_status(conn, order, status, costs, on=on)
    order, events = apply_status(conn, order, status, costs, on=on, close=False)
    if int(order["filled_quantity"]):
        log.error("the broker replaced a partly filled order; follow it by hand", extra={
            "order_id": str(order["id"]), "broker_order_id": successor.broker_order_id})
        return order, events
    keep = min(successor.quantity, book.working(order))
    order, more = book.reprice(conn, order, price=successor.price, keep=keep, costs=costs,
                               data={"price": successor.price, "quantity": keep, "source": "broker_status"},
                               broker_order_id=successor.broker_order_id)
    log.warning("order follows the broker's replacement", extra={
        "order_id": str(order["id"]), "broker_order_id": successor.broker_order_id})
    order, after = apply_status(conn, order, successor, costs, on=on)
    return order, events + more + after
