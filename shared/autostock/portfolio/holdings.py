"""Portfolio summary: cash, positions at the latest prices, P&L, equity, today's change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from autostock import db
from autostock.market.calendar import SEOUL
from autostock.orders import lifecycle, views
from autostock.orders.queries import _uuid
from autostock.portfolio.valuation import closing_prices, mark
from autostock.resources import Resources


def read_books(conn: Any, user_id: str, account_id: str | None) -> tuple[list[dict], list[dict], dict]:
    """The caller's books, positions and what their open buys hold back (all accounts, or one)."""
    scope = "user_id = %s AND (%s::uuid IS NULL OR account_id = %s::uuid)"
    args = (user_id, account_id, account_id)
    books = conn.execute(f"SELECT account_id, cash FROM account_books WHERE {scope}", args).fetchall()  # noqa: S608
    held = conn.execute(f"SELECT * FROM positions WHERE {scope} ORDER BY symbol", args).fetchall()  # noqa: S608
    # By the accounts just found, so the open-orders index is used: `orders_open` has no user
    # column, and by user the statement would read every order the user ever placed (or every
    # user's open orders).
    open_orders = conn.execute(
        "SELECT coalesce(sum(reserved_cash), 0) AS reserved FROM orders WHERE account_id = ANY(%s)"
        f" AND state IN {lifecycle.OPEN_STATES_SQL}", ([b["account_id"] for b in books],)).fetchone()
    return books, held, open_orders


def summary(resources: Resources, user_id: str, account_id: str | None = None) -> dict[str, Any]:
    """The caller's money across their accounts (or one account)."""
    if account_id:
        _uuid(account_id, "account")
    today = dt.datetime.now(SEOUL).date()
    with db.tenant(resources.pool, user_id) as conn:
        books, held, reserved = read_books(conn, user_id, account_id)
        before = conn.execute(
            "SELECT coalesce(sum(equity), 0) AS equity, count(*) AS n FROM equity_snapshots s"
            " WHERE user_id = %s AND (%s::uuid IS NULL OR account_id = %s::uuid) AND day = (SELECT max(day)"
            " FROM equity_snapshots WHERE user_id = %s AND day < %s)",
            (user_id, account_id, account_id, user_id, today)).fetchone()
    open_positions = [h for h in held if int(h["quantity"]) > 0]
    prices = closing_prices(resources, sorted({h["symbol"] for h in open_positions}))
    items = [views.position(h, prices.get(h["symbol"])) for h in open_positions]
    value = sum(mark(int(h["quantity"]), int(h["cost_basis"]), prices.get(h["symbol"])) for h in open_positions)
    cost = sum(int(h["cost_basis"]) for h in open_positions)
    cash = sum(int(b["cash"]) for b in books)
    equity = cash + value
    previous = int(before["equity"]) if before["n"] else None
    return {
        "cash": cash,
        "reserved_cash": int(reserved["reserved"]),
        "buying_power": cash - int(reserved["reserved"]),
        "holdings_value": value,
        "total_equity": equity,
        "unrealized_pnl": value - cost,
        "realized_pnl": sum(int(h["realized_pnl"]) for h in held),
        "today_change": equity - previous if previous is not None else None,
        "positions": items,
        "accounts": len(books),
        "currency": "KRW",
    }
