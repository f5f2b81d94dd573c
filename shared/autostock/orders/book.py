"""The books of one account: cash (with its ledger), positions, and applying fills to both.

Everything here runs inside the caller's transaction with the account's `account_books` row
locked (`lock`), so a fill, a risk check and a reservation never interleave. Applying the same
broker fill twice changes nothing: `fills` is unique on (account, broker fill id) and the
insert comes before any other write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from autostock.brokers.base import Fill, OrderState
from autostock.market.costs import CostModel
from autostock.notify import notices
from autostock.orders import lifecycle


@dataclass(frozen=True)
class Book:
    account_id: str
    user_id: str
    cash: int


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


def lock(conn: psycopg.Connection, account_id: str) -> Book | None:
    row = conn.execute("SELECT account_id, user_id, cash FROM account_books WHERE account_id = %s"
                       " FOR UPDATE", (account_id,)).fetchone()
    return Book(str(row["account_id"]), str(row["user_id"]), int(row["cash"])) if row else None


def post_cash(conn: psycopg.Connection, book: Book, kind: str, amount: int, *,
              order_id: Any = None, fill_id: Any = None, memo: str = "") -> Book:
    """Move cash and write its ledger row; returns the book with the new balance."""
    if amount == 0:
        return book
    balance = book.cash + amount
    conn.execute("INSERT INTO cash_ledger (user_id, account_id, kind, amount, balance_after,"
                 " order_id, fill_id, memo) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                 (book.user_id, book.account_id, kind, amount, balance, order_id, fill_id, memo))
    conn.execute("UPDATE account_books SET cash = %s, updated_at = now() WHERE account_id = %s",
                 (balance, book.account_id))
    return Book(book.account_id, book.user_id, balance)


def buy_reservation(quantity: int, reserve_price: int, costs: CostModel) -> int:
    """Cash an open buy of `quantity` holds back: its value at the reserve price plus commission."""
    value = quantity * reserve_price
    return value + costs.commission(value)


def _position(conn: psycopg.Connection, account_id: str, symbol: str) -> dict[str, Any] | None:
    return conn.execute("SELECT quantity, cost_basis, realized_pnl, opened_at FROM positions"
                        " WHERE account_id = %s AND symbol = %s FOR UPDATE",
                        (account_id, symbol)).fetchone()


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
                 costs: CostModel, *, market: str, on: dt.date) -> Trade:
    """Pure arithmetic of a fill: average cost carries buy commission; sells realize P&L."""
    value = quantity * price
    commission, tax = costs.costs(value, side=side, market=market, on=on)
    if side == "buy":
        return Trade(value, commission, 0, held + quantity, cost_basis + value + commission, 0)
    sold_cost = cost_basis if quantity >= held else cost_basis * quantity // held
    realized = value - commission - tax - sold_cost
    return Trade(value, commission, tax, held - quantity, cost_basis - sold_cost, realized)


def apply_fill(conn: psycopg.Connection, order: dict[str, Any], fill: Fill, costs: CostModel,
               *, on: dt.date) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """Apply one broker fill of `order` (locked, with its book locked). Idempotent."""
    account_id = str(order["account_id"])
    held_row = _position(conn, account_id, order["symbol"])
    held = int(held_row["quantity"]) if held_row else 0
    basis = int(held_row["cost_basis"]) if held_row else 0
    trade = trade_effect(order["side"], fill.quantity, fill.price, held, basis, costs,
                         market=order["market"], on=on)
    inserted = conn.execute(
        "INSERT INTO fills (user_id, account_id, order_id, broker_fill_id, symbol, side, quantity,"
        " price, commission, tax, realized_pnl, filled_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()))"
        " ON CONFLICT (account_id, broker_fill_id) DO NOTHING RETURNING id",
        (order["user_id"], account_id, order["id"], fill.fill_id, order["symbol"], order["side"],
         fill.quantity, fill.price, trade.commission, trade.tax, trade.realized,
         fill.filled_at)).fetchone()
    if inserted is None:
        return order, []  # this fill was applied before
    _write_position(conn, order, held_row, trade)
    _write_cash(conn, order, inserted["id"], trade)
    notices.fill(conn, order, inserted["id"], fill.quantity, fill.price)
    return _advance_order(conn, order, fill, trade, costs)


def _write_position(conn: psycopg.Connection, order: dict[str, Any], held_row: dict[str, Any] | None,
                    trade: Trade) -> None:
    if held_row is None:
        conn.execute("INSERT INTO positions (user_id, account_id, symbol, market, quantity, cost_basis,"
                     " realized_pnl, opened_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
                     (order["user_id"], order["account_id"], order["symbol"], order["market"],
                      trade.quantity_after, trade.cost_basis_after, trade.realized))
        return
    conn.execute("UPDATE positions SET quantity = %s, cost_basis = %s, realized_pnl = realized_pnl + %s,"
                 " opened_at = CASE WHEN %s = 0 THEN NULL WHEN quantity = 0 THEN now()"
                 " ELSE opened_at END, updated_at = now() WHERE account_id = %s AND symbol = %s",
                 (trade.quantity_after, trade.cost_basis_after, trade.realized, trade.quantity_after,
                  order["account_id"], order["symbol"]))


def _write_cash(conn: psycopg.Connection, order: dict[str, Any], fill_id: int, trade: Trade) -> None:
    """One balance update and one multi-row ledger insert (the book is locked by the caller)."""
    sign = -1 if order["side"] == "buy" else 1
    moves = [(kind, amount) for kind, amount in ((order["side"], sign * trade.value),
                                                 ("commission", -trade.commission), ("tax", -trade.tax))
             if amount]
    total = sum(amount for _, amount in moves)
    balance = conn.execute("UPDATE account_books SET cash = cash + %s, updated_at = now()"
                           " WHERE account_id = %s RETURNING cash", (total, order["account_id"])).fetchone()["cash"]
    running = balance - total
    rows = []
    for kind, amount in moves:
        running += amount
        rows.append((order["user_id"], order["account_id"], kind, amount, running, order["id"], fill_id))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO cash_ledger (user_id, account_id, kind, amount, balance_after,"
                        " order_id, fill_id) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def _advance_order(conn: psycopg.Connection, order: dict[str, Any], fill: Fill, trade: Trade,
                   costs: CostModel) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
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
        changes.update(reserved_cash=0, reserved_quantity=0)
        return lifecycle.note(conn, order, "late_fill", data, **changes)
    if remaining == 0:
        target = OrderState.CANCELLED if int(order["cancelled_quantity"]) else OrderState.FILLED
    elif order["state"] == OrderState.PENDING_CANCEL.value:
        target = OrderState.PENDING_CANCEL
    else:
        target = OrderState.PARTIALLY_FILLED
    event = "filled" if target == OrderState.FILLED else "partially_filled"
    row, ev = lifecycle.transition(conn, order, target, event=event, data=data, **changes)
    return row, [ev]
