"""Pre-trade risk: every check an order must pass, each failing with its own error code.

`evaluate` runs inside place-order's transaction after the user row and the account's books
are locked (`FOR UPDATE`), so two concurrent orders see each other's reservations: the second
waits for the first to commit and then counts it. A failed check raises, the transaction
rolls back, and nothing (no order, no reservation, no idempotency record) is left behind.

    code                           status  rule
    kill_switch_global             403     an admin halted all trading
    kill_switch_user               403     an admin halted this user's trading
    real_trading_not_allowed       403     real account and the user lacks can_real_trade
    paper_trading_not_allowed      403     paper account and the user lacks can_paper_trade
    daily_trade_limit_reached      422     user's daily_trade_limit (orders today, all accounts)
    account_daily_trades_reached   422     account's max_daily_trades
    max_position_size_exceeded     422     position value after the order > account max_position_size
    insufficient_buying_power      422     cash − open buy reservations < this order's reservation
    insufficient_holdings          422     holdings − open sell reservations < this order's quantity
    daily_loss_limit_reached       422     today's realized loss ≥ account max_daily_loss (buys only)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from autostock.errors import BrokerRejected, Forbidden
from autostock.market.calendar import SEOUL
from autostock.orders.desk import AccountTerms
from autostock.orders.lifecycle import OPEN_STATES


@dataclass(frozen=True)
class Ticket:
    """The order being checked, with the cash it would hold back."""

    symbol: str
    side: str
    quantity: int
    reserve_price: int        # limit price, or the upper limit for a market buy
    reservation: int          # cash a buy holds back (value + commission); 0 for sells


def _reject(code: str, message: str, **details: Any) -> BrokerRejected:
    return BrokerRejected(message, code=code, details=details)


def check_kill_switches(conn: psycopg.Connection, user_id: str) -> None:
    rows = conn.execute("SELECT scope, reason FROM kill_switches WHERE active AND"
                        " (target_user_id IS NULL OR target_user_id = %s)", (user_id,)).fetchall()
    for row in sorted(rows, key=lambda r: r["scope"] != "global"):
        raise Forbidden(f"trading is halted ({row['scope']}): {row['reason'] or 'kill switch'}",
                        code=f"kill_switch_{row['scope']}")


def check_permission(user: dict[str, Any], account: AccountTerms) -> None:
    if not account.paper and not user["can_real_trade"]:
        raise Forbidden("real trading is not enabled for this user; an admin can grant it",
                        code="real_trading_not_allowed")
    if account.paper and not user["can_paper_trade"]:
        raise Forbidden("paper trading is not enabled for this user", code="paper_trading_not_allowed")


def check_daily_trades(conn: psycopg.Connection, user: dict[str, Any], account: AccountTerms,
                       day: dt.date) -> None:
    row = conn.execute(
        "SELECT count(*) AS user_n, count(*) FILTER (WHERE account_id = %s) AS account_n FROM orders"
        " WHERE user_id = %s AND trading_day = %s AND state <> 'rejected'",
        (account.id, user["id"], day)).fetchone()
    if row["user_n"] >= user["daily_trade_limit"]:
        raise _reject("daily_trade_limit_reached",
                      f"daily trade limit of {user['daily_trade_limit']} orders reached",
                      limit=user["daily_trade_limit"], used=row["user_n"])
    if account.max_daily_trades is not None and row["account_n"] >= account.max_daily_trades:
        raise _reject("account_daily_trades_reached",
                      f"this account's limit of {account.max_daily_trades} orders a day is reached",
                      limit=account.max_daily_trades, used=row["account_n"])


def open_exposure(conn: psycopg.Connection, account_id: str, symbol: str) -> dict[str, int]:
    """Held shares, open reservations and open buy quantity for one account and symbol."""
    return conn.execute(
        "SELECT coalesce((SELECT quantity FROM positions WHERE account_id = %(a)s AND symbol = %(s)s), 0)"
        "   AS held,"
        " coalesce(sum(reserved_cash) FILTER (WHERE side = 'buy'), 0) AS reserved_cash,"
        " coalesce(sum(reserved_quantity) FILTER (WHERE side = 'sell' AND symbol = %(s)s), 0)"
        "   AS reserved_quantity,"
        " coalesce(sum(quantity - filled_quantity - cancelled_quantity)"
        "   FILTER (WHERE side = 'buy' AND symbol = %(s)s), 0) AS open_buy_quantity"
        " FROM orders WHERE account_id = %(a)s AND state = ANY(%(open)s)",
        {"a": account_id, "s": symbol, "open": list(OPEN_STATES)}).fetchone()


def check_position_size(account: AccountTerms, ticket: Ticket, exposure: dict[str, int],
                        mark_price: int) -> None:
    if account.max_position_size is None or ticket.side != "buy":
        return
    after = (int(exposure["held"]) + int(exposure["open_buy_quantity"]) + ticket.quantity) * mark_price
    if after > account.max_position_size:
        raise _reject("max_position_size_exceeded",
                      f"position would be worth {after} KRW, over the account limit of"
                      f" {account.max_position_size} KRW", limit=account.max_position_size, value=after)


def check_buying_power(cash: int, ticket: Ticket, exposure: dict[str, int]) -> None:
    if ticket.side != "buy":
        return
    power = cash - int(exposure["reserved_cash"])
    if ticket.reservation > power:
        raise _reject("insufficient_buying_power",
                      f"this order needs {ticket.reservation} KRW; buying power is {power} KRW",
                      required=ticket.reservation, buying_power=power)


def check_sellable(ticket: Ticket, exposure: dict[str, int]) -> None:
    if ticket.side != "sell":
        return
    sellable = int(exposure["held"]) - int(exposure["reserved_quantity"])
    if ticket.quantity > sellable:
        raise _reject("insufficient_holdings",
                      f"selling {ticket.quantity} shares; {sellable} are sellable",
                      requested=ticket.quantity, sellable=sellable)


def check_daily_loss(conn: psycopg.Connection, account_id: str, ticket: Ticket, day: dt.date) -> None:
    if ticket.side != "buy":
        return  # selling reduces risk; a loss limit must never trap a position
    start = dt.datetime.combine(day, dt.time(0), SEOUL)
    row = conn.execute(
        "SELECT b.max_daily_loss, coalesce((SELECT sum(realized_pnl) FROM fills f"
        "  WHERE f.account_id = b.account_id AND f.filled_at >= %s), 0) AS realized"
        " FROM account_books b WHERE b.account_id = %s", (start, account_id)).fetchone()
    if row and row["max_daily_loss"] is not None and -int(row["realized"]) >= int(row["max_daily_loss"]):
        raise _reject("daily_loss_limit_reached",
                      f"today's realized loss {-int(row['realized'])} KRW reached the limit of"
                      f" {row['max_daily_loss']} KRW", limit=row["max_daily_loss"],
                      loss=-int(row["realized"]))


def gate(conn: psycopg.Connection, user: dict[str, Any], account: AccountTerms) -> None:
    """May this user trade on this account at all (kill switches, permissions)?"""
    check_kill_switches(conn, user["id"])
    check_permission(user, account)


def evaluate(conn: psycopg.Connection, *, user: dict[str, Any], account: AccountTerms, cash: int,
             ticket: Ticket, day: dt.date, mark_price: int) -> None:
    """The limit checks, in order, after `gate`; raises the first that fails."""
    check_daily_trades(conn, user, account, day)
    exposure = open_exposure(conn, account.id, ticket.symbol)
    check_position_size(account, ticket, exposure, mark_price)
    check_daily_loss(conn, account.id, ticket, day)
    check_buying_power(cash, ticket, exposure)
    check_sellable(ticket, exposure)
