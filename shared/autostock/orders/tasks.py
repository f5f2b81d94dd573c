"""Order tasks on the market clock: reconcile every minute, expire day orders at the close,
snapshot equity after the close. Each is idempotent (the clock may run it again)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from autostock import db, timetable
from autostock.brokers.base import OrderState
from autostock.errors import AppError
from autostock.market import calendar
from autostock.orders import book, desk as desks, lifecycle, views
from autostock.orders.reconcile import CANDIDATE_COLUMNS, EARLIER_DAY, broker_view, reconcile_open_orders
from autostock.orders.sync import apply_status
from autostock.portfolio.valuation import closing_prices
from autostock.resources import Resources

log = logging.getLogger("autostock.orders.tasks")


@timetable.task("orders.reconcile", timetable.every_minute)
def reconcile(resources: Resources, now: dt.datetime) -> dict[str, Any]:
    return reconcile_open_orders(desks.current(resources))


def _expiring(resources: Resources, now: dt.datetime) -> list[dict[str, Any]]:
    today = now.date()
    bounds = calendar.session_bounds(today)
    closed_today = bounds is None or now >= bounds[1]
    with db.service(resources.pool) as conn:
        return conn.execute(
            f"SELECT {CANDIDATE_COLUMNS} FROM orders WHERE state IN {lifecycle.OPEN_STATES_SQL}"
            " AND time_in_force = 'day' AND (trading_day < %s OR (%s AND trading_day = %s))",
            (today, closed_today, today)).fetchall()


def _cancel_at_broker(desk: desks.Desk, order: dict[str, Any]) -> None:
    """Brokers drop day orders at the close themselves; paper books need telling."""
    if not order["broker_order_id"]:
        return
    broker, status = broker_view(desk, order)
    if status is not None and status.state.is_open:
        try:
            broker.cancel_order(order["broker_order_id"])
        except AppError as e:  # already closed there: its status below says how
            log.info("expiry cancel refused", extra={"order_id": str(order["id"]), "error": e.code})


@timetable.task("orders.expire", timetable.every_minute)
def expire(resources: Resources, now: dt.datetime) -> dict[str, Any]:
    """Day orders still open after their session closed: take the broker's last word, then
    expire what is left and release its reservation.

    An order whose broker does not answer waits for the next run with its reservation held:
    it may have filled at the close, and once expired nothing would ask the broker again."""
    desk = desks.current(resources)
    counts = {"expired": 0, "waiting_for_broker": 0, "failed": 0}
    for order in _expiring(resources, now):
        try:
            _cancel_at_broker(desk, order)
            _, status = broker_view(desk, order)
        except AppError as e:
            if e.code == EARLIER_DAY:
                # Its day is over at the broker too, and today's listing cannot speak for it
                # (its number may be another order's today): expire it on what we know.
                log.warning("expired without the broker's last word", extra={"order_id": str(order["id"])})
                status = None
            else:
                counts["waiting_for_broker"] += 1
                log.warning("expiry waits for the broker", extra={"order_id": str(order["id"]), "error": e.code})
                continue
        try:
            counts["expired"] += _expire_one(desk, order, status, now)
        except Exception:  # one order's fault must not keep the others open
            counts["failed"] += 1
            log.exception("expiry failed", extra={"order_id": str(order["id"])})
    return counts


def _expire_one(desk: desks.Desk, order: dict[str, Any], status: Any, now: dt.datetime) -> int:
    with db.tenant(desk.resources.pool, str(order["user_id"])) as conn:
        current = book.lock_order(conn, str(order["account_id"]), str(order["id"]))
        events: list[lifecycle.OrderEvent] = []
        if status is not None:
            current, events = apply_status(conn, current, status, desk.costs, on=now.date(), close=False)
        expired = current["state"] in lifecycle.OPEN_STATES
        if expired:
            current, ev = lifecycle.close_rest(conn, current, OrderState.EXPIRED, event="expired")
            events.append(ev)
    for ev in events:
        desk.publish(ev.event, views.event_payload(ev))
    return int(expired)


@timetable.task("orders.snapshot", timetable.after_close(minutes=10))
def snapshot(resources: Resources, now: dt.datetime) -> dict[str, Any]:
    """Write today's equity per account once (later runs the same day find it written)."""
    day = now.date()
    with db.service(resources.pool) as conn:
        accounts = conn.execute(
            "SELECT b.account_id, b.user_id, b.cash FROM account_books b WHERE NOT EXISTS"
            " (SELECT 1 FROM equity_snapshots s WHERE s.account_id = b.account_id AND s.day = %s)",
            (day,)).fetchall()
        held = conn.execute("SELECT account_id, symbol, quantity, cost_basis, realized_pnl FROM positions"
                            " WHERE account_id = ANY(%s)",
                            ([a["account_id"] for a in accounts],)).fetchall()
        prices = closing_prices(resources, sorted({h["symbol"] for h in held if h["quantity"]}), day)
        for account in accounts:
            mine = [h for h in held if h["account_id"] == account["account_id"]]
            value = sum(int(h["quantity"]) * prices.get(h["symbol"], int(h["cost_basis"]) // max(1, int(
                h["quantity"]))) for h in mine)
            realized = sum(int(h["realized_pnl"]) for h in mine)
            conn.execute("INSERT INTO equity_snapshots (user_id, account_id, day, cash, holdings_value,"
                         " equity, realized_pnl) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                         " ON CONFLICT (account_id, day) DO NOTHING",
                         (account["user_id"], account["account_id"], day, account["cash"], value,
                          int(account["cash"]) + value, realized))
    return {"snapshots": len(accounts)}
