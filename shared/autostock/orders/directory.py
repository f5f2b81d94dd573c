"""Look-ups order entry makes in tables other areas own: broker accounts and symbols.

Read inside the caller's transaction (the tenant's, so RLS keeps a user to their own
accounts). Identity owns `broker_accounts`, market data owns `symbols`; this module is the one
place that knows their column names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from autostock.errors import Forbidden, NotFound, ValidationError
from autostock.market import symbols
from autostock.orders.desk import AccountTerms

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Instrument:
    symbol: str
    market: str
    product: str
    name: str = ""


# What order entry reads of an account and of a symbol (also inside `context`'s statement).
ACCOUNT_COLUMNS = ("id, user_id, broker, is_paper, is_active, allowed_products, max_position_size,"
                   " max_daily_trades, starting_cash")
SYMBOL_COLUMNS = "code, market, name_ko, status"


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


def terms_of(row: dict[str, Any]) -> AccountTerms:
    """AccountTerms from a row of ACCOUNT_COLUMNS."""
    return AccountTerms(id=str(row["id"]), user_id=str(row["user_id"]), broker=row["broker"],
                        paper=bool(row["is_paper"]), active=bool(row["is_active"]),
                        allowed_products=tuple(row["allowed_products"] or ("stock",)),
                        max_position_size=row["max_position_size"],
                        max_daily_trades=row["max_daily_trades"],
                        starting_cash=int(row["starting_cash"] or 0))


def account_terms(conn: psycopg.Connection, user_id: str, account_id: str) -> AccountTerms:
    """The caller's account (404 for anyone else's, like a missing one)."""
    if not is_uuid(account_id):
        raise NotFound("no such account", code="account_not_found")
    row = conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM broker_accounts WHERE id = %s AND user_id = %s"  # noqa: S608 - constant columns
        " AND deleted_at IS NULL", (account_id, user_id)).fetchone()
    if row is None:
        raise NotFound("no such account", code="account_not_found")
    return terms_of(row)


def account_by_id(conn: psycopg.Connection, account_id: str) -> AccountTerms:
    """Any account, for service-role work (market-clock, admin)."""
    row = conn.execute("SELECT user_id FROM broker_accounts WHERE id = %s", (account_id,)).fetchone()
    if row is None:
        raise NotFound("no such account", code="account_not_found")
    return account_terms(conn, str(row["user_id"]), account_id)


def check_account_usable(account: AccountTerms, instrument: Instrument) -> None:
    if not account.active:
        raise Forbidden("this account is disabled", code="account_disabled")
    if instrument.product not in account.allowed_products:
        raise Forbidden(f"this account does not allow {instrument.product} orders",
                        code="product_not_allowed",
                        details={"product": instrument.product, "allowed": list(account.allowed_products)})


def instrument(conn: psycopg.Connection, symbol: str) -> Instrument:
    """The listed symbol `symbol`, or a 400 naming the field."""
    row = conn.execute(f"SELECT {SYMBOL_COLUMNS} FROM symbols WHERE code = %s",  # noqa: S608 - constant columns
                       (symbol,)).fetchone()
    return instrument_of(row, symbol)


def instrument_of(row: dict[str, Any] | None, symbol: str) -> Instrument:
    """The Instrument of a row of SYMBOL_COLUMNS (None: not listed), or a 400 naming the field."""
    if row is None or row["market"] == "INDEX":
        raise ValidationError(f"unknown symbol {symbol}", code="unknown_symbol",
                              details={"field": "symbol"})
    if row["status"] != "listed":
        raise ValidationError(f"{symbol} is {row['status']} and cannot be traded",
                              code="symbol_not_tradable", details={"field": "symbol"})
    market = "KOSDAQ" if row["market"].upper().startswith("KOSDAQ") else row["market"].upper()
    return Instrument(symbol=row["code"], market=market, product=symbols.product_of(row["name_ko"]),
                      name=row["name_ko"] or "")
