"""What place-order reads before it records an order: one statement that takes its locks.

`lock` locks the user row (`FOR NO KEY UPDATE`: a user's order entries, and so their daily
count, go one at a time, while the foreign-key checks other transactions make against the row
are not blocked) and then the account's books (`FOR UPDATE`: fills, cancels and other orders
of the account wait), and reads with them what the order is checked against and does not move
with other orders: the user's permissions, the account's terms, the instrument, the active
kill switches, the cash.

What does move with other orders (the day's counts, open reservations, holdings, the day's
losses) is read by `risk.exposure` in the next statement. Under READ COMMITTED each statement
sees what was committed when it started; a statement that waited for a lock would not see
what the holder it waited for committed, but the next one does. Both locks are held through
pricing, which reads the desk's cached quote (a broker call at most every few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from autostock.errors import Forbidden, NotFound
from autostock.orders import directory
from autostock.orders.desk import AccountTerms
from autostock.orders.directory import Instrument

# The scalar subqueries run in the order written: the user row is locked before the books.
_LOCK = f"""
WITH trader AS (
    SELECT id, is_active, can_paper_trade, can_real_trade, daily_trade_limit FROM users
    WHERE id = %(user)s FOR NO KEY UPDATE),
account AS (
    SELECT {directory.ACCOUNT_COLUMNS} FROM broker_accounts
    WHERE user_id = %(user)s AND deleted_at IS NULL
      AND CASE WHEN %(by_default)s THEN is_default ELSE id = %(account)s END),
books AS (
    SELECT cash, max_daily_loss FROM account_books
    WHERE account_id = (SELECT id FROM account) FOR UPDATE)
SELECT
    (SELECT to_jsonb(trader) FROM trader) AS trader,
    (SELECT to_jsonb(account) FROM account) AS account,
    (SELECT to_jsonb(books) FROM books) AS books,
    (SELECT to_jsonb(s) FROM (SELECT {directory.SYMBOL_COLUMNS} FROM symbols WHERE code = %(symbol)s) s)
        AS instrument,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('scope', scope, 'reason', reason)), '[]')
     FROM kill_switches WHERE active AND (target_user_id IS NULL OR target_user_id = %(user)s))
        AS kill_switches
"""


@dataclass(frozen=True)
class Context:
    """The rows `lock` read; each method raises the error a missing or unusable row means."""

    symbol: str
    by_default: bool                      # no account was named: the user's default one
    trader_row: dict[str, Any] | None
    account_row: dict[str, Any] | None
    books_row: dict[str, Any] | None
    instrument_row: dict[str, Any] | None
    kill_switches: list[dict[str, Any]]   # {scope, reason} of each active switch

    def user(self) -> dict[str, Any]:
        """The user, if they may trade at all."""
        row = self.trader_row
        if row is None or not row["is_active"]:
            raise Forbidden("this user may not trade", code="user_inactive")
        return row

    def account(self) -> AccountTerms | None:
        """The account named (404 when it is not the user's), or the user's default one (None
        when they have none yet)."""
        if self.account_row is not None:
            return directory.terms_of(self.account_row)
        if self.by_default:
            return None
        raise NotFound("no such account", code="account_not_found")

    def instrument(self) -> Instrument:
        return directory.instrument_of(self.instrument_row, self.symbol)

    def books(self) -> tuple[int, int | None] | None:
        """(cash, max_daily_loss) of the account's books; None when they are not opened yet."""
        row = self.books_row
        return None if row is None else (int(row["cash"]), row["max_daily_loss"])


def lock(conn: psycopg.Connection, user_id: str, account_id: str | None, symbol: str) -> Context:
    """Lock the user and the books of `account_id` (None: the default account); read the rest.

    An account id that is not a UUID is nobody's account: it reads as missing, a 404 after the
    user's own checks, as for any account that is not theirs."""
    by_default = account_id is None
    row = conn.execute(_LOCK, {"user": user_id, "by_default": by_default, "symbol": symbol,
                               "account": account_id if directory.is_uuid(account_id) else None}).fetchone()
    return Context(symbol, by_default, row["trader"], row["account"], row["books"], row["instrument"],
                   row["kill_switches"])
