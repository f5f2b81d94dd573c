"""Pre-trade risk: every check an order must pass, each failing with its own error code.

The checks are pure functions of what place-order read inside its transaction. `Exposure`
is read by `exposure`, in a statement that starts after the user row and the account's books
are locked (`orders.context`), so two concurrent orders see each other's reservations: the
second waits for the first to commit and then counts it. A failed check raises, the
transaction rolls back, and nothing (no order, no reservation, no idempotency record) is
left behind.

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
from autostock.orders.lifecycle import OPEN_STATES_SQL


@dataclass(frozen=True)
class Ticket:
    """The order being checked, with the cash it would hold back."""

    symbol: str
    side: str
    quantity: int
    reserve_price: int        # limit price, or the upper limit for a market buy
    reservation: int          # cash a buy holds back (value + commission); 0 for sells


@dataclass(frozen=True)
class Exposure:
    """What the day's orders and fills add up to, for one user, account and symbol."""

    user_orders_today: int      # not rejected, all of the user's accounts
    account_orders_today: int
    held: int                   # shares of the symbol in the account
    held_cost: int              # their cost basis (KRW)
    position_rows: int          # 1 when the account has a positions row for the symbol, else 0
    reserved_cash: int          # held back by the account's open buys
    reserved_quantity: int      # shares of the symbol offered by open sells
    open_buy_quantity: int      # shares of the symbol open buys may still bring
    realized_today: int         # the account's realized P&L since midnight (KST)


def exposure(conn: psycopg.Connection, user_id: str, account_id: str, symbol: str,
             day: dt.date) -> Exposure:
    """One statement; run it after the locks are held (see the module docstring)."""
    row = conn.execute(
        "SELECT trades.*, position.*, open_orders.*, losses.* FROM"
        " (SELECT count(*) AS user_orders_today,"
        "   count(*) FILTER (WHERE account_id = %(a)s) AS account_orders_today"
        "   FROM orders WHERE user_id = %(u)s AND trading_day = %(day)s AND state <> 'rejected') AS trades,"
        " (SELECT count(*) AS position_rows, coalesce(sum(quantity), 0) AS held,"
        "   coalesce(sum(cost_basis), 0) AS held_cost FROM positions WHERE account_id = %(a)s AND symbol = %(s)s)"
        "   AS position,"
        " (SELECT coalesce(sum(reserved_cash) FILTER (WHERE side = 'buy'), 0) AS reserved_cash,"
        "   coalesce(sum(reserved_quantity) FILTER (WHERE side = 'sell' AND symbol = %(s)s), 0)"
        "     AS reserved_quantity,"
        "   coalesce(sum(quantity - filled_quantity - cancelled_quantity)"
        "     FILTER (WHERE side = 'buy' AND symbol = %(s)s), 0) AS open_buy_quantity"
        f"   FROM orders WHERE account_id = %(a)s AND state IN {OPEN_STATES_SQL}) AS open_orders,"
        " (SELECT coalesce(sum(realized_pnl), 0) AS realized_today FROM fills"
        "   WHERE account_id = %(a)s AND filled_at >= %(midnight)s) AS losses",
        {"u": user_id, "a": account_id, "s": symbol, "day": day,
         "midnight": dt.datetime.combine(day, dt.time(0), SEOUL)}).fetchone()
    return Exposure(**{name: int(value) for name, value in row.items()})


def _reject(code: str, message: str, **details: Any) -> BrokerRejected:
    return BrokerRejected(message, code=code, details=details)


def check_kill_switches(switches: list[dict[str, Any]]) -> None:
    """`switches`: the active kill switches for the user, {scope, reason} each."""
    for row in sorted(switches, key=lambda r: r["scope"] != "global"):
        raise Forbidden(f"trading is halted ({row['scope']}): {row['reason'] or 'kill switch'}",
                        code=f"kill_switch_{row['scope']}")


def check_permission(user: dict[str, Any], account: AccountTerms) -> None:
    if not account.paper and not user["can_real_trade"]:
        raise Forbidden("real trading is not enabled for this user; an admin can grant it",
                        code="real_trading_not_allowed")
    if account.paper and not user["can_paper_trade"]:
        raise Forbidden("paper trading is not enabled for this user", code="paper_trading_not_allowed")


def check_daily_trades(user: dict[str, Any], account: AccountTerms, seen: Exposure) -> None:
    if seen.user_orders_today >= user["daily_trade_limit"]:
        raise _reject("daily_trade_limit_reached",
                      f"daily trade limit of {user['daily_trade_limit']} orders reached",
                      limit=user["daily_trade_limit"], used=seen.user_orders_today)
    if account.max_daily_trades is not None and seen.account_orders_today >= account.max_daily_trades:
        raise _reject("account_daily_trades_reached",
                      f"this account's limit of {account.max_daily_trades} orders a day is reached",
                      limit=account.max_daily_trades, used=seen.account_orders_today)


def check_position_size(account: AccountTerms, ticket: Ticket, seen: Exposure, mark_price: int) -> None:
    if account.max_position_size is None or ticket.side != "buy":
        return
    after = (seen.held + seen.open_buy_quantity + ticket.quantity) * mark_price
    if after > account.max_position_size:
        raise _reject("max_position_size_exceeded",
                      f"position would be worth {after} KRW, over the account limit of"
                      f" {account.max_position_size} KRW", limit=account.max_position_size, value=after)


def check_buying_power(cash: int, ticket: Ticket, seen: Exposure) -> None:
    if ticket.side != "buy":
        return
    power = cash - seen.reserved_cash
    if ticket.reservation > power:
        raise _reject("insufficient_buying_power",
                      f"this order needs {ticket.reservation} KRW; buying power is {power} KRW",
                      required=ticket.reservation, buying_power=power)


def check_sellable(ticket: Ticket, seen: Exposure) -> None:
    if ticket.side != "sell":
        return
    sellable = seen.held - seen.reserved_quantity
    if ticket.quantity > sellable:
        raise _reject("insufficient_holdings",
                      f"selling {ticket.quantity} shares; {sellable} are sellable",
                      requested=ticket.quantity, sellable=sellable)


def check_daily_loss(max_daily_loss: int | None, ticket: Ticket, seen: Exposure) -> None:
    if ticket.side != "buy":
        return  # selling reduces risk; a loss limit must never trap a position
    if max_daily_loss is not None and -seen.realized_today >= max_daily_loss:
        raise _reject("daily_loss_limit_reached",
                      f"today's realized loss {-seen.realized_today} KRW reached the limit of"
                      f" {max_daily_loss} KRW", limit=max_daily_loss, loss=-seen.realized_today)


def gate(user: dict[str, Any], account: AccountTerms, kill_switches: list[dict[str, Any]]) -> None:
    """May this user trade on this account at all (kill switches, permissions)?"""
    check_kill_switches(kill_switches)
    check_permission(user, account)


def evaluate(*, user: dict[str, Any], account: AccountTerms, cash: int, max_daily_loss: int | None,
             ticket: Ticket, seen: Exposure, mark_price: int) -> None:
    """The limit checks, in order, after `gate`; raises the first that fails."""
    check_daily_trades(user, account, seen)
    check_position_size(account, ticket, seen, mark_price)
    check_daily_loss(max_daily_loss, ticket, seen)
    check_buying_power(cash, ticket, seen)
    check_sellable(ticket, seen)
