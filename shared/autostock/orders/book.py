"""The books of one account: cash (with its ledger), positions, and applying fills to both.

Everything here runs inside the caller's transaction with the account's `account_books` row
locked (`lock_order`; order entry's `orders.context`), so a fill, a risk check and a
reservation never interleave. Applying the same broker fill twice changes nothing: `fills` is
unique on (account, broker fill id) and the insert comes before any other write.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import psycopg

from autostock.brokers.base import Fill, OrderState, OrderStatus
from autostock.market.calendar import SEOUL
from autostock.market.costs import CostModel
from autostock.notify import notices
from autostock.orders import lifecycle


def open_book(conn: psycopg.Connection, user_id: str, account_id: str, opening_cash: int) -> bool:
    """Create the account's books with an opening deposit; False when they already exist."""
    row = conn.execute("INSERT INTO account_books (account_id, user_id, cash) VALUES (%s, %s, %s)"
                       " ON CONFLICT (account_id) DO NOTHING RETURNING account_id",
                       (account_id, user_id, opening_cash)).fetchone()
    if row is None:
        return False
    if opening_cash:
        conn.execute("INSERT INTO cash_ledger (user_id, account_id, kind, amount, balance_after, memo)"
                     " VALUES (%s, %s, 'deposit', %s, %s, 'opening balance')",
                     (user_id, account_id, opening_cash, opening_cash))
    return True


# The books first, then the order: the lock order every writer of both keeps. The books' CTE
# is a one-time filter of the statement, so it is locked before the order row is read.
_LOCK_ORDER = (
    "WITH books AS (SELECT account_id FROM account_books WHERE account_id = %(account)s FOR UPDATE)"
    f" SELECT {lifecycle.ORDER_COLUMNS} FROM orders"  # noqa: S608 - a constant column list
    " WHERE id = %(order)s AND EXISTS (SELECT 1 FROM books) FOR UPDATE OF orders")


def lock_order(conn: psycopg.Connection, account_id: str, order_id: str) -> dict[str, Any] | None:
    """Lock the account's books, then the order, in one statement; the order row as it stands
    (None: no such order, or its account has no books, which no order's account lacks)."""
    return conn.execute(_LOCK_ORDER, {"account": account_id, "order": order_id}).fetchone()


def buy_reservation(quantity: int, reserve_price: int, costs: CostModel) -> int:
    """Cash an open buy of `quantity` holds back: its value at the reserve price plus commission."""
    value = quantity * reserve_price
    return value + costs.commission(value)


def working(order: dict[str, Any]) -> int:
    """Shares of `order` neither filled nor cancelled."""
    return int(order["quantity"]) - int(order["filled_quantity"]) - int(order["cancelled_quantity"])


def reprice(conn: psycopg.Connection, order: dict[str, Any], *, price: int, keep: int, costs: CostModel,
            data: dict[str, Any], broker_order_id: str | None = None
            ) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """Record a modify the broker took: `keep` of the working shares go on at `price` (the rest
    are cancelled) and the reservation follows them; with `broker_order_id`, the order follows
    the number of the broker's replacement (KIS, LS and Kiwoom answer a modify with a new order)."""
    replaced = {"broker_order_id": broker_order_id} if broker_order_id else {}
    buy = order["side"] == "buy"
    return lifecycle.note(
        conn, order, "modified", {**data, **replaced}, **replaced, price=price, reserve_price=price,
        cancelled_quantity=int(order["cancelled_quantity"]) + working(order) - keep,
        reserved_cash=buy_reservation(keep, price, costs) if buy else 0,
        reserved_quantity=0 if buy else keep)


@dataclass(frozen=True)
class Holding:
    """An account's position in one symbol as read under the books lock (`exists`: it has a
    positions row, which a position sold down to zero keeps)."""

    exists: bool
    quantity: int
    cost_basis: int


def _holding(conn: psycopg.Connection, account_id: str, symbol: str) -> Holding:
    row = conn.execute("SELECT quantity, cost_basis FROM positions WHERE account_id = %s AND symbol = %s"
                       " FOR UPDATE", (account_id, symbol)).fetchone()
    return Holding(False, 0, 0) if row is None else Holding(True, int(row["quantity"]), int(row["cost_basis"]))


@dataclass(frozen=True)
class Trade:
    """What one fill does to a position, in KRW."""

    value: int
    commission: int
    tax: int
    quantity_after: int
    cost_basis_after: int
    realized: int            # P&L of this fill, net of its commission and tax (sells only)


def trade_effect(side: str, quantity: int, price: int, held: int, cost_basis: int,
                 costs: CostModel, *, market: str, on: dt.date, product: str = "stock") -> Trade:
    """Pure arithmetic of a fill: average cost carries buy commission; sells realize P&L (net
    of the sell tax, which funds do not pay)."""
    value = quantity * price
    commission, tax = costs.costs(value, side=side, market=market, on=on, product=product)
    if side == "buy":
        return Trade(value, commission, 0, held + quantity, cost_basis + value + commission, 0)
    sold_cost = cost_basis if quantity >= held else cost_basis * quantity // held
    realized = value - commission - tax - sold_cost
    return Trade(value, commission, tax, held - quantity, cost_basis - sold_cost, realized)


def apply_fill(conn: psycopg.Connection, order: dict[str, Any], fill: Fill, costs: CostModel,
               *, on: dt.date, holding: Holding | None = None) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """Apply one broker fill of `order` (locked, with its book locked). Idempotent.

    `holding` is the account's position in the order's symbol when the caller read it in this
    transaction under the books lock (no one else can have moved it since); else it is read."""
    if holding is None:
        holding = _holding(conn, str(order["account_id"]), order["symbol"])
    trade = trade_effect(order["side"], fill.quantity, fill.price, holding.quantity, holding.cost_basis, costs,
                         market=order["market"], on=trade_date(fill, on), product=order["product"])
    fill_row_id = _write_fill(conn, order, fill, trade, new_position=not holding.exists)
    if fill_row_id is None:
        return order, []  # this fill was applied before
    notices.fill(conn, order, fill_row_id, fill.quantity, fill.price)
    return _advance_order(conn, order, fill, trade, costs)


def trade_date(fill: Fill, booked_on: dt.date) -> dt.date:
    """The day whose sell-tax rate a fill pays: the day it was made (KST), not the day it reaches
    our books (a fill of 30 December booked on 2 January pays the old year's rate); `booked_on`
    when the broker gave no time."""
    if fill.filled_at is None:
        return booked_on
    at = fill.filled_at if fill.filled_at.tzinfo else fill.filled_at.replace(tzinfo=SEOUL)  # KRX's clock
    return at.astimezone(SEOUL).date()


# `_write_fill`'s statement. The fill goes in first and is unique per (order, broker fill
# id); the position, the cash and its ledger rows change only when it went in (`fill` has its
# row), so a fill applied twice changes nothing. A data-modifying CTE makes it one round trip.
# `{order}` is the order's id: a parameter, or the `created` CTE of a new order's statement,
# whose fill cannot have been applied before (a broker that reused a fill id fails the insert).
_FILL = (
    "INSERT INTO fills (user_id, account_id, order_id, broker_fill_id, symbol, side, quantity, price,"
    " commission, tax, realized_pnl, filled_at) VALUES (%(u)s, %(a)s, {order}, %(fill)s, %(s)s, %(side)s,"
    " %(q)s, %(price)s, %(commission)s, %(tax)s, %(realized)s, coalesce(%(at)s, now())){conflict}"
    " RETURNING id")
_NEW_POSITION = (
    "INSERT INTO positions (user_id, account_id, symbol, market, quantity, cost_basis, realized_pnl,"
    " opened_at) SELECT %(u)s, %(a)s, %(s)s, %(market)s, %(held)s, %(basis)s, %(realized)s, now() FROM fill")
_MOVE_POSITION = (
    "UPDATE positions SET quantity = %(held)s, cost_basis = %(basis)s, realized_pnl = realized_pnl + %(realized)s,"
    " opened_at = CASE WHEN %(held)s = 0 THEN NULL WHEN quantity = 0 THEN now() ELSE opened_at END,"
    " updated_at = now() WHERE account_id = %(a)s AND symbol = %(s)s AND EXISTS (SELECT 1 FROM fill)")
_CASH = (
    "UPDATE account_books SET cash = cash + %(total)s, updated_at = now()"
    " WHERE account_id = %(a)s AND EXISTS (SELECT 1 FROM fill) RETURNING cash")
# One ledger row per move (the trade, its commission, its tax), in order, each with the balance
# after it; a move of zero writes no row. Three scalar slots, not arrays: nothing to adapt.
_LEDGER = (
    "INSERT INTO cash_ledger (user_id, account_id, kind, amount, balance_after, order_id, fill_id)"
    " SELECT %(u)s, %(a)s, m.kind, m.amount, cash.cash - %(total)s + m.running, {order}, fill.id"
    " FROM fill, cash, (VALUES (1, %(k1)s, %(a1)s::bigint, %(r1)s::bigint), (2, %(k2)s, %(a2)s, %(r2)s),"
    "   (3, %(k3)s, %(a3)s, %(r3)s)) AS m(n, kind, amount, running) WHERE m.kind IS NOT NULL ORDER BY m.n")


def _fill_ctes(new_position: bool, order: str, conflict: str) -> str:
    position = _NEW_POSITION if new_position else _MOVE_POSITION
    return (f"fill AS ({_FILL.format(order=order, conflict=conflict)}), position AS ({position}),"
            f" cash AS ({_CASH}), ledger AS ({_LEDGER.format(order=order)})")


_WRITE_FILL = {new: f"WITH {_fill_ctes(new, '%(order)s', ' ON CONFLICT (order_id, broker_fill_id) DO NOTHING')}"
                    " SELECT id FROM fill" for new in (True, False)}
# A new order's immediate fill, its notice included, written by the order's own insert.
_CREATED_FILL = {new: f", {_fill_ctes(new, '(SELECT id FROM created)', '')}, {notices.FILL_CTES}"
                 for new in (True, False)}


def _fill_params(order: dict[str, Any], fill: Fill, trade: Trade) -> dict[str, Any]:
    sign = -1 if order["side"] == "buy" else 1
    moves = [(kind, amount) for kind, amount in ((order["side"], sign * trade.value),
                                                 ("commission", -trade.commission), ("tax", -trade.tax))
             if amount]
    runnings = list(itertools.accumulate(amount for _, amount in moves))
    slots: dict[str, Any] = {f"{part}{n}": None for n in (1, 2, 3) for part in "kar"}   # unused: no row
    for n, ((kind, amount), running) in enumerate(zip(moves, runnings), 1):
        slots.update({f"k{n}": kind, f"a{n}": amount, f"r{n}": running})
    return {"u": order["user_id"], "a": order["account_id"], "fill": fill.fill_id, "s": order["symbol"],
            "side": order["side"], "market": order["market"], "q": fill.quantity, "price": fill.price,
            "commission": trade.commission, "tax": trade.tax, "realized": trade.realized, "at": fill.filled_at,
            "held": trade.quantity_after, "basis": trade.cost_basis_after,
            "total": runnings[-1] if runnings else 0, **slots}


def _write_fill(conn: psycopg.Connection, order: dict[str, Any], fill: Fill, trade: Trade, *,
                new_position: bool) -> int | None:
    """Insert the fill and move the position and the cash; the fill's row id, or None when the
    fill was applied before."""
    row = conn.execute(_WRITE_FILL[new_position], {**_fill_params(order, fill, trade), "order": order["id"]}).fetchone()
    return None if row is None else row["id"]


def after_fill(order: dict[str, Any], fill: Fill, trade: Trade,
               costs: CostModel) -> tuple[OrderState | None, dict[str, Any], dict[str, Any]]:
    """What one more fill makes of `order`: (its next state, None for a closed order that keeps
    its own; the changed columns; the event's data)."""
    filled = int(order["filled_quantity"]) + fill.quantity
    value = int(order["filled_value"]) + trade.value
    remaining = max(0, int(order["quantity"]) - filled - int(order["cancelled_quantity"]))
    changes = {
        "filled_quantity": filled,
        "filled_value": value,
        "average_fill_price": value // filled,
        "fees": int(order["fees"]) + trade.commission + trade.tax,
        # The broker's fills win over our cancel count when they disagree.
        "cancelled_quantity": min(int(order["cancelled_quantity"]), int(order["quantity"]) - filled),
        "reserved_cash": buy_reservation(remaining, int(order["reserve_price"]), costs)
        if order["side"] == "buy" else 0,
        "reserved_quantity": remaining if order["side"] == "sell" else 0,
    }
    data = {"fill_id": fill.fill_id, "quantity": fill.quantity, "price": fill.price}
    if order["state"] in lifecycle.FINAL_STATES:
        # A fill the broker reports after we closed the order (cancel raced a fill): the
        # broker's record wins, the state stays.
        return None, {**changes, "reserved_cash": 0, "reserved_quantity": 0}, data
    if remaining == 0:
        target = OrderState.CANCELLED if int(order["cancelled_quantity"]) else OrderState.FILLED
    elif order["state"] == OrderState.PENDING_CANCEL.value:
        target = OrderState.PENDING_CANCEL
    else:
        target = OrderState.PARTIALLY_FILLED
    return target, changes, data


def _advance_order(conn: psycopg.Connection, order: dict[str, Any], fill: Fill, trade: Trade,
                   costs: CostModel) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    target, changes, data = after_fill(order, fill, trade, costs)
    if target is None:
        return lifecycle.note(conn, order, "late_fill", data, **changes)
    event = "filled" if target == OrderState.FILLED else "partially_filled"
    row, ev = lifecycle.transition(conn, order, target, event=event, data=data, **changes)
    return row, [ev]


def only_fill(status: OrderStatus | None) -> Fill | None:
    """The one fill of a new order's status, when that fill is all the broker has done to it
    (an order it also closed, or one with several fills, takes `sync.apply_status`)."""
    if status is None or len(status.fills) != 1 or status.fills[0].quantity != status.filled_quantity:
        return None
    if status.state not in (OrderState.PARTIALLY_FILLED, OrderState.FILLED):
        return None
    return status.fills[0]


def create_filled(conn: psycopg.Connection, columns: dict[str, Any], *, broker_order_id: str, fill: Fill,
                  costs: CostModel, on: dt.date,
                  holding: Holding) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """Insert a new order the broker accepted and filled at once (`only_fill`), as the fill
    left it, with its events (created, accepted, filled), the fill, the position, the cash and
    its ledger, and the fill notice: one statement, where the step-by-step path takes four and
    writes the order twice. `holding` is the account's position in the symbol, read under the
    books lock; `columns` are `lifecycle.NEW_ORDER_COLUMNS`."""
    new = {**columns, "state": OrderState.ACCEPTED.value, "filled_quantity": 0, "filled_value": 0, "fees": 0,
           "cancelled_quantity": 0}
    trade = trade_effect(new["side"], fill.quantity, fill.price, holding.quantity, holding.cost_basis, costs,
                         market=new["market"], on=trade_date(fill, on), product=new["product"])
    target, changes, data = after_fill(new, fill, trade, costs)
    assert target is not None  # a new order is open
    params = {**_fill_params(new, fill, trade),
              **notices.fill_params(new, fill.quantity, fill.price)}
    return lifecycle.create(conn, ((OrderState.ACCEPTED, {}), (target, data)), broker_order_id=broker_order_id,
                            filled=changes, then=_CREATED_FILL[not holding.exists], then_params=params, **columns)
