"""The paper broker's books in PostgreSQL: accounts, holdings, orders, fills.

Every function takes a connection already inside a transaction (`db.tenant` for a user's
broker calls, `db.service` for the matcher). Lock order, to keep the broker and the matcher
from deadlocking: the account row first (`lock_account`), then its orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from autostock import db
from autostock.brokers.base import Fill, OrderState, OrderStatus, OrderType, Side
from autostock.errors import NotFound
from autostock.market.costs import CostModel
from autostock.market.quotes import SEOUL

OPEN_STATES = (OrderState.ACCEPTED.value, OrderState.PARTIALLY_FILLED.value)
# The same in SQL, for the statements every order runs: constants, which let the planner use
# the open-orders partial indexes in any plan (no array parameter to adapt either).
OPEN_SQL = db.constant_list(OPEN_STATES)
_ORDER_COLUMNS = ("id, account_id, user_id, client_order_id, symbol, market, product, side, order_type,"
                  " quantity, price, filled_quantity, filled_value, cancelled_quantity, state, reason,"
                  " trade_date, created_at")
_ORDER_NAMES = tuple(name.strip() for name in _ORDER_COLUMNS.split(","))


def broker_order_id(order_id: int) -> str:
    return f"{order_id:010d}"


def parse_order_id(broker_order_id: str) -> int:
    if not isinstance(broker_order_id, str) or not broker_order_id.isdigit() or len(broker_order_id) > 18:
        raise NotFound(f"no paper order {broker_order_id!r}", code="order_not_found")
    return int(broker_order_id)


def ensure_account(conn: psycopg.Connection, account_id: str, user_id: str, starting_cash: int,
                   commission_ppb: int) -> None:
    """Open the paper account with its starting cash the first time; later calls change nothing."""
    conn.execute(
        "INSERT INTO paper_accounts (account_id, user_id, starting_cash, cash, commission_ppb)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id) DO NOTHING",
        (account_id, user_id, starting_cash, starting_cash, commission_ppb))


def account_today(conn: psycopg.Connection, account_id: str, today: dt.date, closed_today: bool,
                  *, lock: bool = False) -> dict[str, Any] | None:
    """The account row (locked with `lock`), after retiring its day orders past their close.

    One statement: orders of earlier days (and of today once its session is over) expire, so
    nothing the caller reads next counts them as open. None when the account is not opened.
    """
    return conn.execute(
        "WITH expired AS (UPDATE paper_orders SET state = 'expired',"
        "   cancelled_quantity = quantity - filled_quantity, reason = 'day order expired at the close',"
        f"   updated_at = now() WHERE account_id = %(a)s AND state IN {OPEN_SQL}"
        "   AND (trade_date < %(today)s OR (trade_date = %(today)s AND %(closed)s)))"
        " SELECT * FROM paper_accounts WHERE account_id = %(a)s" + (" FOR UPDATE" if lock else ""),
        {"a": account_id, "today": today, "closed": closed_today}).fetchone()


def lock_account(conn: psycopg.Connection, account_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM paper_accounts WHERE account_id = %s FOR UPDATE",
                       (account_id,)).fetchone()
    return opened(row)


def opened(row: dict[str, Any] | None) -> dict[str, Any]:
    """The account row, or NotFound when the account was never opened."""
    if row is None:
        raise NotFound("paper account not opened; call connect() first", code="paper_account_not_found")
    return row


def open_orders(conn: psycopg.Connection, account_id: str, side: Side | None = None,
                symbol: str | None = None) -> list[dict[str, Any]]:
    sql = f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE account_id = %s AND state IN {OPEN_SQL}"
    params: list[Any] = [account_id]
    if side is not None:
        sql += " AND side = %s"
        params.append(side.value)
    if symbol is not None:
        sql += " AND symbol = %s"
        params.append(symbol)
    return conn.execute(sql, params).fetchall()


def remaining(order: dict[str, Any]) -> int:
    return int(order["quantity"] - order["filled_quantity"] - order["cancelled_quantity"])


def reservation(open_buy_values: list[int], costs: CostModel) -> int:
    """Cash held back for open buy orders (their remaining value at the limit, plus commission)."""
    return sum(value + costs.commission(value) for value in open_buy_values)


_OPEN_BUY_VALUES = ("ARRAY(SELECT (quantity - filled_quantity - cancelled_quantity) * price FROM paper_orders"
                    f" WHERE account_id = %(a)s AND side = 'buy' AND state IN {OPEN_SQL})")


def reserved_cash(conn: psycopg.Connection, account_id: str, costs: CostModel) -> int:
    row = conn.execute(f"SELECT {_OPEN_BUY_VALUES} AS open_buys", {"a": account_id}).fetchone()
    return reservation(row["open_buys"], costs)


def holdings(conn: psycopg.Connection, account_id: str, symbol: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT symbol, quantity, book_value FROM paper_holdings WHERE account_id = %s AND quantity > 0"
    params: list[Any] = [account_id]
    if symbol is not None:
        sql += " AND symbol = %s"
        params.append(symbol)
    return conn.execute(sql + " ORDER BY symbol", params).fetchall()


@dataclass(frozen=True)
class ImmediateFill:
    """The fill a marketable order gets as it is placed (its fill id is made from the order's)."""

    quantity: int
    price: int
    commission: int
    tax: int
    at: dt.datetime


def _cash_move(side: Side, value: int, commission: int, tax: int) -> int:
    """What a fill does to the account's cash: a buy pays its value and commission, a sell
    receives its value less commission and tax."""
    return -(value + commission) if side is Side.BUY else value - commission - tax


# The cash part of a fill's statement (`fill` is the CTE of the inserted fill).
_FILL_CASH = ("cash AS (UPDATE paper_accounts SET cash = cash + %(cash)s, updated_at = now()"
              "   WHERE account_id = %(a)s AND EXISTS (SELECT 1 FROM fill))")


@dataclass(frozen=True)
class Placed:
    """`place`'s answer: the new order, or the one placed before with its client_order_id, and
    what the new one is checked against, as things stood before it."""

    order: dict[str, Any] | None      # None: the client_order_id was placed before
    existing: dict[str, Any] | None   # that earlier order (id, created_at)
    open_buy_values: list[int]        # remaining value of each open buy, at its limit
    sellable: int                     # shares of the symbol held minus those open sells offer
    fill_id: str | None = None        # the immediate fill's id, when one was written


# The immediate fill of `placed`, with its cash and shares. Its guard (enough cash for a buy,
# enough shares for a sell) only keeps the writes inside the tables' CHECKs: the caller's means
# check is stricter, and a refused order is rolled back with everything this statement wrote.
_PLACE_FILL = (
    ", fill AS (INSERT INTO paper_fills (fill_id, order_id, account_id, user_id, symbol, side, quantity, price,"
    "   commission, tax, filled_at)"
    "   SELECT lpad(placed.id::text, greatest(10, length(placed.id::text)), '0') || '-0', placed.id,"
    "   %(a)s, %(u)s, %(s)s, %(side)s, %(q)s, %(fill_price)s, %(commission)s, %(tax)s, %(at)s FROM placed"
    "   WHERE CASE WHEN %(side)s = 'buy'"
    "     THEN (SELECT cash FROM paper_accounts WHERE account_id = %(a)s) >= -%(cash)s"
    "     ELSE (SELECT quantity FROM paper_holdings WHERE account_id = %(a)s AND symbol = %(s)s) >= %(q)s END"
    f"   RETURNING fill_id), {_FILL_CASH}, shares AS ({{shares}})")


def place(conn: psycopg.Connection, values: dict[str, Any], fill: ImmediateFill | None = None) -> Placed:
    """Insert an order unless its client_order_id was placed before, and read what it is
    checked against, in one statement (its reads do not see the row it inserts).

    With `fill`, the order goes in filled and its fill, cash and shares are written by the
    same statement. The caller holds the account lock and checks the means; a failed check
    raises, and the caller's rollback takes the order (and its fill) back out."""
    values = dict(values)
    params: dict[str, Any] = {}
    fill_sql = ""
    if fill is not None:
        side, value = Side(values["side"]), fill.quantity * fill.price
        values.update(filled_quantity=fill.quantity, filled_value=value,
                      state=(OrderState.FILLED if fill.quantity == values["quantity"]
                             else OrderState.PARTIALLY_FILLED).value)
        params = {"q": fill.quantity, "fill_price": fill.price, "value": value, "commission": fill.commission,
                  "tax": fill.tax, "at": fill.at, "cash": _cash_move(side, value, fill.commission, fill.tax),
                  "side": side.value}
        fill_sql = _PLACE_FILL.format(shares=(_BUY_SHARES if side is Side.BUY else _SELL_SHARES))
    names = ", ".join(values)
    marks = ", ".join(f"%({name})s" for name in values)
    row = conn.execute(
        f"WITH placed AS (INSERT INTO paper_orders ({names}) VALUES ({marks})"
        "   ON CONFLICT (account_id, client_order_id) WHERE client_order_id <> '' DO NOTHING"
        f"   RETURNING {_ORDER_COLUMNS}){fill_sql}"
        " SELECT placed.*, e.id AS existing_id, e.created_at AS existing_at,"
        f" {'(SELECT fill_id FROM fill)' if fill else 'NULL::text'} AS fill_id,"
        f" {_OPEN_BUY_VALUES} AS open_buys,"
        " coalesce((SELECT quantity FROM paper_holdings WHERE account_id = %(a)s AND symbol = %(s)s), 0)"
        " - coalesce((SELECT sum(quantity - filled_quantity - cancelled_quantity) FROM paper_orders"
        f"   WHERE account_id = %(a)s AND side = 'sell' AND symbol = %(s)s AND state IN {OPEN_SQL}), 0)"
        "   AS sellable"
        " FROM (SELECT) AS one LEFT JOIN placed ON true LEFT JOIN paper_orders e"
        "   ON e.account_id = %(a)s AND e.client_order_id = %(c)s AND e.client_order_id <> ''",
        {**values, **params, "a": values["account_id"], "u": values["user_id"], "s": values["symbol"],
         "c": values["client_order_id"] or ""}).fetchone()
    order = {name: row[name] for name in _ORDER_NAMES} if row["id"] is not None else None
    existing = None if order else {"id": row["existing_id"], "created_at": row["existing_at"]}
    return Placed(order, existing, row["open_buys"], int(row["sellable"]), row["fill_id"])


def get_order(conn: psycopg.Connection, order_id: int, *, account_id: str | None = None,
              lock: bool = False) -> dict[str, Any]:
    sql = f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE id = %s"
    params: list[Any] = [order_id]
    if account_id is not None:
        sql += " AND account_id = %s"
        params.append(account_id)
    row = conn.execute(sql + (" FOR UPDATE" if lock else ""), params).fetchone()
    if row is None:
        raise NotFound(f"no paper order {broker_order_id(order_id)}", code="order_not_found")
    return row


def find_by_client_id(conn: psycopg.Connection, account_id: str, client_order_id: str) -> dict[str, Any] | None:
    return conn.execute(f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE account_id = %s"
                        " AND client_order_id = %s", (account_id, client_order_id)).fetchone()


def update_order(conn: psycopg.Connection, order_id: int, **changes: Any) -> dict[str, Any]:
    sets = ", ".join(f"{name} = %s" for name in changes)
    return conn.execute(f"UPDATE paper_orders SET {sets}, updated_at = now() WHERE id = %s"
                        f" RETURNING {_ORDER_COLUMNS}", [*changes.values(), order_id]).fetchone()


@dataclass(frozen=True)
class AppliedFill:
    """A fill as recorded, with its costs and the order's state after it."""

    fill: Fill
    commission: int
    tax: int
    order: dict[str, Any]


def apply_fill(conn: psycopg.Connection, order: dict[str, Any], fill_id: str, quantity: int, price: int,
               at: dt.datetime, costs: CostModel) -> AppliedFill | None:
    """Record one fill of `order` and move cash and shares; None when `fill_id` was applied before.

    The caller holds the account lock and passes the order as read under it. The unique
    fill_id makes a replay (a redelivered tick, a retried call) change nothing: one statement
    inserts the fill, and its other parts (the order, the cash, the shares) only happen when
    that insert did.
    """
    side = Side(order["side"])
    value = quantity * price
    on = at.astimezone(SEOUL).date()
    commission, tax = costs.costs(value, side=side.value, market=order["market"], on=on,
                                  product=order["product"])
    filled = order["filled_quantity"] + quantity
    done = filled + order["cancelled_quantity"] >= order["quantity"]
    state = OrderState.FILLED if filled == order["quantity"] else (
        OrderState.CANCELLED if done else OrderState.PARTIALLY_FILLED)
    updated = conn.execute(
        "WITH fill AS (INSERT INTO paper_fills (fill_id, order_id, account_id, user_id, symbol, side,"
        "   quantity, price, commission, tax, filled_at) VALUES (%(fill_id)s, %(order)s, %(a)s, %(u)s,"
        "   %(s)s, %(side)s, %(q)s, %(price)s, %(commission)s, %(tax)s, %(at)s)"
        f"   ON CONFLICT (fill_id) DO NOTHING RETURNING fill_id), {_FILL_CASH},"
        f" shares AS ({_BUY_SHARES if side is Side.BUY else _SELL_SHARES})"
        " UPDATE paper_orders SET filled_quantity = %(filled)s, filled_value = %(filled_value)s,"
        "   state = %(state)s, updated_at = now()"
        f" WHERE id = %(order)s AND EXISTS (SELECT 1 FROM fill) RETURNING {_ORDER_COLUMNS}",
        {"fill_id": fill_id, "order": order["id"], "a": order["account_id"], "u": order["user_id"],
         "s": order["symbol"], "side": side.value, "q": quantity, "price": price, "value": value,
         "commission": commission, "tax": tax, "at": at, "filled": filled,
         "filled_value": order["filled_value"] + value, "state": state.value,
         "cash": _cash_move(side, value, commission, tax)}).fetchone()
    if updated is None:
        return None
    fill = Fill(broker_order_id=broker_order_id(order["id"]), fill_id=fill_id, symbol=order["symbol"],
                side=side, quantity=quantity, price=price, filled_at=at)
    return AppliedFill(fill=fill, commission=commission, tax=tax, order=updated)


# The shares part of `apply_fill` (`fill` is the CTE of the inserted fill).
_BUY_SHARES = (
    "INSERT INTO paper_holdings (account_id, user_id, symbol, quantity, book_value)"
    " SELECT %(a)s, %(u)s, %(s)s, %(q)s, %(value)s FROM fill ON CONFLICT (account_id, symbol) DO UPDATE SET"
    " quantity = paper_holdings.quantity + EXCLUDED.quantity,"
    " book_value = paper_holdings.book_value + EXCLUDED.book_value, updated_at = now()")
# A sale takes its share of the book value, so the average price of the rest is unchanged.
_SELL_SHARES = (
    "UPDATE paper_holdings SET book_value = CASE WHEN quantity = %(q)s THEN 0"
    " ELSE book_value - book_value * %(q)s / quantity END,"
    " quantity = quantity - %(q)s, updated_at = now()"
    " WHERE account_id = %(a)s AND symbol = %(s)s AND EXISTS (SELECT 1 FROM fill)")


def fills_of(conn: psycopg.Connection, order_ids: list[int]) -> dict[int, list[Fill]]:
    rows = conn.execute("SELECT * FROM paper_fills WHERE order_id = ANY(%s) ORDER BY filled_at, fill_id",
                        (order_ids,)).fetchall()
    out: dict[int, list[Fill]] = {}
    for r in rows:
        out.setdefault(r["order_id"], []).append(Fill(
            broker_order_id=broker_order_id(r["order_id"]), fill_id=r["fill_id"], symbol=r["symbol"],
            side=Side(r["side"]), quantity=int(r["quantity"]), price=int(r["price"]), filled_at=r["filled_at"]))
    return out


def to_status(order: dict[str, Any], fills: list[Fill]) -> OrderStatus:
    filled = int(order["filled_quantity"])
    return OrderStatus(
        broker_order_id=broker_order_id(order["id"]), symbol=order["symbol"], side=Side(order["side"]),
        order_type=OrderType(order["order_type"]), quantity=int(order["quantity"]), price=int(order["price"]),
        filled_quantity=filled, average_fill_price=int(order["filled_value"]) // filled if filled else 0,
        state=OrderState(order["state"]), cancelled_quantity=int(order["cancelled_quantity"]),
        fills=tuple(fills), reason=order["reason"])


def statuses(conn: psycopg.Connection, orders: list[dict[str, Any]]) -> list[OrderStatus]:
    fills = fills_of(conn, [o["id"] for o in orders])
    return [to_status(o, fills.get(o["id"], [])) for o in orders]


def orders_of_day(conn: psycopg.Connection, account_id: str, day: dt.date) -> list[dict[str, Any]]:
    """Orders placed on `day`, plus older ones still open."""
    return conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE account_id = %s"
        f" AND (trade_date = %s OR state IN {OPEN_SQL}) ORDER BY id", (account_id, day)).fetchall()
