"""Pre-trade risk: every rule's own code, nothing left behind, no race past a limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from autostock import db, risk
from autostock.market.calendar import SEOUL
from autostock.orders import context
from tests.helpers import invoke, rows_read
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"


def _place(user, body):
    return invoke("place-order", "POST", PATH, body, token=user["token"])


def _open_reservations(resources, account_id: str) -> tuple[int, int]:
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT coalesce(sum(reserved_cash), 0) AS c, coalesce(sum(reserved_quantity), 0)"
                           " AS q FROM orders WHERE account_id = %s", (account_id,)).fetchone()
    return int(row["c"]), int(row["q"])


def _buy_shares(user, symbol, quantity):
    reply = _place(user, order_body(symbol, quantity=quantity, price=None, order_type="market"))
    assert reply.status == 201 and reply.json["status"] == "filled", reply


def _kill(resources, user_id=None):
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO kill_switches (scope, target_user_id, reason) VALUES (%s, %s, 'test')",
                     ("user" if user_id else "global", user_id))


@pytest.fixture
def lift_global(resources):
    yield
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE kill_switches SET active = false, lifted_at = now() WHERE scope = 'global'")


RULES = ["kill_switch_user", "daily_trade_limit_reached", "account_daily_trades_reached",
         "max_position_size_exceeded", "insufficient_buying_power", "insufficient_holdings",
         "daily_loss_limit_reached"]


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_rejects_with_its_own_code_and_leaves_no_reservation(rule, trader, listed, resources):
    symbol = listed(price=10_000)
    setup = {
        "daily_trade_limit_reached": {"daily_trade_limit": 1},
        "account_daily_trades_reached": {"max_daily_trades": 1},
        "max_position_size_exceeded": {"max_position_size": 50_000},
        "insufficient_buying_power": {"cash": 50_000},
    }.get(rule, {})
    user = trader(**setup)
    body = order_body(symbol, quantity=10, price=10_000)
    if rule == "kill_switch_user":
        _kill(resources, user["id"])
    if rule in ("daily_trade_limit_reached", "account_daily_trades_reached"):
        assert _place(user, order_body(symbol, quantity=1, price=10_000)).status == 201
    if rule == "insufficient_holdings":
        body = order_body(symbol, side="sell", quantity=1, price=10_000)
    if rule == "daily_loss_limit_reached":
        _buy_shares(user, symbol, 10)
        listed(price=8_000, code=symbol, prev_close=10_000)
        assert _place(user, order_body(symbol, side="sell", quantity=10, price=None,
                                       order_type="market")).json["status"] == "filled"
        with db.service(resources.pool) as conn:
            conn.execute("UPDATE account_books SET max_daily_loss = 10000 WHERE account_id = %s",
                         (user["account_id"],))
        body = order_body(symbol, quantity=1, price=8_000)
    before = _open_reservations(resources, user["account_id"])
    reply = _place(user, body)
    assert reply.error_code == rule, reply
    assert reply.status == (403 if rule.startswith("kill_switch") else 422)
    assert _open_reservations(resources, user["account_id"]) == before
    books_reconcile(resources, user["account_id"])


def test_global_kill_switch_blocks_everyone(trader, listed, resources, lift_global):
    symbol = listed()
    user = trader()
    _kill(resources)
    reply = _place(user, order_body(symbol))
    assert reply.status == 403 and reply.error_code == "kill_switch_global"


def test_real_account_needs_can_real_trade_and_paper_still_works(trader, listed, resources):
    from autostock import accounts
    symbol = listed()
    user = trader()
    real = accounts.create_account(resources, user["id"], broker="kis", account_number="50123456-01",
                                   app_key="k" * 36, app_secret="s" * 180)
    reply = _place(user, order_body(symbol, account_id=real["id"]))
    assert reply.status == 403 and reply.error_code == "real_trading_not_allowed"
    assert _place(user, order_body(symbol, account_id=user["account_id"])).status == 201


def test_twenty_concurrent_buys_only_those_that_fit(trader, listed, resources):
    symbol = listed(price=10_000)
    per_order = 10 * 10_000 + 10 * 10_000 * 140_527 // 1_000_000_000
    user = trader(cash=per_order * 7 + 5_000)          # room for exactly 7 of 20

    def buy(i: int):
        return _place(user, order_body(symbol, quantity=10, price=10_000 - 10 * (i % 3)))

    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(buy, range(20)))
    accepted = [r for r in replies if r.status == 201]
    refused = [r for r in replies if r.status != 201]
    assert len(accepted) == 7, [r.error_code for r in refused]
    assert {r.error_code for r in refused} == {"insufficient_buying_power"}
    reserved, _ = _open_reservations(resources, user["account_id"])
    figures = books_reconcile(resources, user["account_id"])
    assert reserved <= figures["cash"], "buying power never below zero"


def test_twenty_concurrent_sells_against_holdings(trader, listed, resources):
    symbol = listed(price=10_000)
    user = trader()
    _buy_shares(user, symbol, 25)
    listed(price=10_000, code=symbol)

    def sell(i: int):
        return _place(user, order_body(symbol, side="sell", quantity=2, price=11_000))

    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(sell, range(20)))
    accepted = [r for r in replies if r.status == 201]
    assert len(accepted) == 12, [r.error_code for r in replies if r.status != 201]
    assert {r.error_code for r in replies if r.status != 201} == {"insufficient_holdings"}
    _, reserved_quantity = _open_reservations(resources, user["account_id"])
    assert reserved_quantity == 24 <= books_reconcile(resources, user["account_id"])["held"][symbol]


def test_the_risk_reads_cost_the_same_on_a_years_history(trader, listed, resources, database_url, clock):
    """What an order is checked against (the day's counts, open reservations, holdings, the
    day's losses) is read from today's and the open orders alone: on an account with 3,000
    filled orders and fills of earlier days, the lock and exposure statements read a handful of
    `orders` and `fills` rows."""
    symbol = listed(price=70_000)
    user = trader(cash=10_000_000_000)
    _buy_shares(user, symbol, 5)
    assert _place(user, order_body(symbol, quantity=1, price=60_000)).json["status"] == "accepted"
    today = clock().astimezone(SEOUL).date()
    with psycopg.connect(database_url, autocommit=True) as conn:    # the tables' owner
        conn.execute(
            "WITH o AS (INSERT INTO orders (user_id, account_id, client_order_id, symbol, market, side, order_type,"
            "   time_in_force, quantity, price, reserve_price, reserved_cash, reserved_quantity, broker, trading_day,"
            "   state, filled_quantity, filled_value, average_fill_price)"
            "   SELECT %(u)s, %(a)s, 'past-' || g, %(s)s, 'KOSPI', 'buy', 'limit', 'day', 1, 70000, 70000, 0, 0,"
            "   'paper', %(today)s - 1 - g / 12, 'filled', 1, 70000, 70000 FROM generate_series(1, 3000) g"
            "   RETURNING id, client_order_id, trading_day)"
            " INSERT INTO fills (user_id, account_id, order_id, broker_fill_id, symbol, side, quantity, price,"
            "   commission, tax, realized_pnl, filled_at)"
            " SELECT %(u)s, %(a)s, o.id, o.client_order_id, %(s)s, 'buy', 1, 70000, 9, 0, 0,"
            "   o.trading_day + time '10:00' FROM o",
            {"u": user["id"], "a": user["account_id"], "s": symbol, "today": today})
        conn.execute("ANALYZE orders")
        conn.execute("ANALYZE fills")
    with db.tenant(resources.pool, user["id"]) as conn:
        before = rows_read(conn, "orders") + rows_read(conn, "fills")
        context.lock(conn, user["id"], user["account_id"], symbol)
        seen = risk.exposure(conn, user["id"], user["account_id"], symbol, today)
        read = rows_read(conn, "orders") + rows_read(conn, "fills") - before
    assert (seen.user_orders_today, seen.account_orders_today, seen.held, seen.open_buy_quantity) == (2, 2, 5, 1)
    assert read < 20
    assert _place(user, order_body(symbol, quantity=1, price=None, order_type="market")).status == 201
