"""Reading orders, fills and positions: filters and keyset (cursor) pagination.

A cursor is the opaque position after the last row of a page (time and id, base64), so pages
stay stable while new orders arrive.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from psycopg import sql

from autostock import db
from autostock.errors import NotFound, ValidationError
from autostock.orders import directory, lifecycle, views
from autostock.orders.desk import Desk

MAX_LIMIT = 200
STATUS_GROUPS = {"open": lifecycle.OPEN_STATES, "closed": lifecycle.FINAL_STATES}


def encode_cursor(at: dt.datetime, row_id: Any) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str, *, numeric_id: bool = False) -> tuple[dt.datetime, str]:
    """(time, row id) of a cursor this API returned; a 400 for anything else (an id of the
    wrong kind included, which the database would refuse with a 500)."""
    try:
        at, _, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        decoded = dt.datetime.fromisoformat(at), row_id
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError("cursor is not one this API returned", code="invalid_cursor") from e
    if not (row_id.isdigit() if numeric_id else directory._UUID.match(row_id)):  # noqa: SLF001
        raise ValidationError("cursor is not one this API returned", code="invalid_cursor")
    return decoded


def page_limit(value: str | None, default: int = 50) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise ValidationError(f"limit must be 1..{MAX_LIMIT}", code="invalid_limit")
    return int(value)


def _uuid(value: str, what: str) -> str:
    if not directory._UUID.match(value or ""):  # noqa: SLF001 - one uuid pattern for the package
        raise NotFound(f"no such {what}", code=f"{what}_not_found")
    return value


def list_orders(desk: Desk, user_id: str, filters: dict[str, str | None]) -> dict[str, Any]:
    """The caller's orders, newest first; filters: status (a state, `open` or `closed`), symbol,
    side, account_id, from/to (trading days); `cursor` and `limit` page through them."""
    where = [sql.SQL("user_id = %s")]
    args: list[Any] = [user_id]
    status = filters.get("status")
    if status:
        states = STATUS_GROUPS.get(status) or (status,)
        if not set(states) <= set(lifecycle.OPEN_STATES + lifecycle.FINAL_STATES):
            raise ValidationError(f"unknown status {status}", code="invalid_filter")
        where.append(sql.SQL("state = ANY(%s)"))
        args.append(list(states))
    for name in ("symbol", "side", "account_id"):
        if filters.get(name):
            where.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            args.append(_uuid(filters[name], "account") if name == "account_id" else filters[name].upper()
                        if name == "symbol" else filters[name])
    for name, op in (("from", ">="), ("to", "<=")):
        if filters.get(name):
            where.append(sql.SQL("trading_day " + op + " %s"))
            args.append(_date(filters[name], name))
    if filters.get("cursor"):
        at, row_id = decode_cursor(filters["cursor"])
        where.append(sql.SQL("(created_at, id) < (%s, %s)"))
        args += [at, row_id]
    limit = page_limit(filters.get("limit"))
    query = sql.SQL("SELECT {} FROM orders WHERE {} ORDER BY created_at DESC, id DESC LIMIT %s").format(
        sql.SQL(lifecycle.ORDER_COLUMNS), sql.SQL(" AND ").join(where))
    with db.tenant(desk.resources.pool, user_id) as conn:
        rows = conn.execute(query, [*args, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return {"items": [views.order(r) for r in rows], "next_cursor": cursor}


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise ValidationError(f"{name} must be a date YYYY-MM-DD", code="invalid_filter") from e


def get_order(desk: Desk, user_id: str, order_id: str) -> dict[str, Any]:
    """One order with its history of events and its fills."""
    _uuid(order_id, "order")
    with db.tenant(desk.resources.pool, user_id) as conn:
        row = conn.execute(sql.SQL("SELECT {} FROM orders WHERE id = %s AND user_id = %s").format(
            sql.SQL(lifecycle.ORDER_COLUMNS)), (order_id, user_id)).fetchone()
        if row is None:
            raise NotFound("no such order", code="order_not_found")
        events = conn.execute("SELECT event, from_state, to_state, data, created_at FROM order_events"
                              " WHERE order_id = %s ORDER BY id", (order_id,)).fetchall()
        fills = conn.execute("SELECT * FROM fills WHERE order_id = %s ORDER BY id", (order_id,)).fetchall()
    out = views.order(row)
    out["events"] = [{**e, "created_at": e["created_at"].isoformat()} for e in events]
    out["fills"] = [views.fill(f) for f in fills]
    return out


def positions(desk: Desk, user_id: str, account_id: str | None = None,
              prices: dict[str, int] | None = None) -> dict[str, Any]:
    """Open positions (quantity > 0), valued at `prices` (default: the latest quotes)."""
    with db.tenant(desk.resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT * FROM positions WHERE user_id = %s AND quantity > 0"
            " AND (%s::uuid IS NULL OR account_id = %s::uuid) ORDER BY account_id, symbol",
            (user_id, account_id and _uuid(account_id, "account"), account_id)).fetchall()
    if prices is None:
        from autostock.portfolio.valuation import closing_prices
        prices = closing_prices(desk.resources, sorted({r["symbol"] for r in rows}))
    return {"items": [views.position(r, prices.get(r["symbol"])) for r in rows]}


def fills_history(desk: Desk, user_id: str, filters: dict[str, str | None]) -> dict[str, Any]:
    """Fills newest first, filtered by symbol/account/from/to, cursor-paged."""
    where = [sql.SQL("user_id = %s")]
    args: list[Any] = [user_id]
    if filters.get("symbol"):
        where.append(sql.SQL("symbol = %s"))
        args.append(filters["symbol"].upper())
    if filters.get("account_id"):
        where.append(sql.SQL("account_id = %s"))
        args.append(_uuid(filters["account_id"], "account"))
    if filters.get("from"):
        where.append(sql.SQL("filled_at >= %s"))
        args.append(_date(filters["from"], "from"))
    if filters.get("to"):
        where.append(sql.SQL("filled_at < %s::date + 1"))
        args.append(_date(filters["to"], "to"))
    if filters.get("cursor"):
        at, row_id = decode_cursor(filters["cursor"], numeric_id=True)
        where.append(sql.SQL("(filled_at, id) < (%s, %s)"))
        args += [at, int(row_id)]
    limit = page_limit(filters.get("limit"))
    query = sql.SQL("SELECT * FROM fills WHERE {} ORDER BY filled_at DESC, id DESC LIMIT %s").format(
        sql.SQL(" AND ").join(where))
    with db.tenant(desk.resources.pool, user_id) as conn:
        rows = conn.execute(query, [*args, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["filled_at"], rows[-1]["id"]) if more else None
    return {"items": [views.fill(r) for r in rows], "next_cursor": cursor}
