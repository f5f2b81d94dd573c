"""portfolio: summary at the latest prices, performance from snapshots, trading analytics."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from autostock import db
from autostock.portfolio import activity, equity_curve, holdings
from tests.helpers import invoke, rows_read
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"
COMMISSION = 140_527


def _fee(value: int) -> int:
    return value * COMMISSION // 1_000_000_000


def test_summary_values_positions_at_the_latest_quote(trader, listed, resources):
    symbol = listed(price=50_000)
    user = trader(cash=2_000_000)
    bought = invoke("place-order", "POST", PATH, order_body(symbol, quantity=10, price=None, order_type="market"),
                    token=user["token"]).json
    invoke("place-order", "POST", PATH, order_body(symbol, quantity=1, price=45_000), token=user["token"])
    listed(price=55_000, code=symbol, prev_close=50_000)
    reply = invoke("portfolio", "GET", "/api/v1/portfolio/summary", token=user["token"])
    assert reply.status == 200, reply
    s = reply.json
    cost = 10 * bought["average_fill_price"] + _fee(10 * bought["average_fill_price"])
    cash = books_reconcile(resources, user["account_id"])["cash"]
    assert s["cash"] == cash == 2_000_000 - cost
    assert s["holdings_value"] == 550_000
    assert s["unrealized_pnl"] == 550_000 - cost
    assert s["total_equity"] == cash + 550_000
    assert s["reserved_cash"] == 45_000 + _fee(45_000)
    assert s["buying_power"] == cash - s["reserved_cash"]
    assert [p["symbol"] for p in s["positions"]] == [symbol]
    assert invoke("portfolio", "GET", "/api/v1/portfolio/summary").status == 401


def test_realized_pnl_is_net_of_commission_and_tax(trader, listed, resources):
    symbol = listed(price=10_000)
    user = trader(cash=1_000_000)
    buy = invoke("place-order", "POST", PATH, order_body(symbol, quantity=10, price=None, order_type="market"),
                 token=user["token"]).json
    listed(price=12_000, code=symbol, prev_close=10_000)
    sell = invoke("place-order", "POST", PATH, order_body(symbol, side="sell", quantity=10, price=None,
                                                          order_type="market"), token=user["token"]).json
    bought, sold = 10 * buy["average_fill_price"], 10 * sell["average_fill_price"]
    tax = sold * 1_500_000 // 1_000_000_000          # 2025: 0.15 % on KOSPI sales
    expected = sold - _fee(sold) - tax - (bought + _fee(bought))
    s = invoke("portfolio", "GET", "/api/v1/portfolio/summary", token=user["token"]).json
    assert s["realized_pnl"] == expected
    assert s["cash"] == 1_000_000 + expected
    assert s["positions"] == []
    a = invoke("portfolio", "GET", "/api/v1/portfolio/analytics", token=user["token"]).json
    assert a["win_rate"] == 1.0 and a["closed_trades"] == 1 and a["realized_pnl"] == expected
    assert a["traded_value"] == bought + sold


def test_performance_from_snapshots_with_benchmark(trader, resources, user_factory):
    user = trader(cash=1_000_000)
    equities = [1_000_000, 1_100_000, 990_000, 1_089_000]
    days = [dt.date(2025, 6, 16) + dt.timedelta(days=i) for i in range(4)]
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO account_books (account_id, user_id, cash) VALUES (%s, %s, 0)"
                     " ON CONFLICT DO NOTHING", (user["account_id"], user["id"]))
        for day, equity in zip(days, equities):
            conn.execute("INSERT INTO equity_snapshots (user_id, account_id, day, cash, holdings_value, equity)"
                         " VALUES (%s, %s, %s, %s, 0, %s)", (user["id"], user["account_id"], day, equity, equity))
        conn.execute("SELECT market_ensure_partitions('bars_1d', '2025-01-01', '2025-12-31')")
        index = "IDX" + user["id"][:6].upper().replace("-", "0")
        conn.execute("INSERT INTO symbols (code, name_ko, market, price_scale) VALUES (%s, 'test index', 'INDEX', 100)",
                     (index,))
        for day, close in zip(days, [270_000, 272_000, 268_000, 275_400]):
            conn.execute("INSERT INTO bars_1d (code, day, open, high, low, close, volume) VALUES"
                         " (%s, %s, %s, %s, %s, %s, 0)", (index, day, close, close, close, close))
    reply = invoke("portfolio", "GET", "/api/v1/portfolio/performance", token=user["token"],
                   query={"account_id": user["account_id"], "benchmark": index})
    assert reply.status == 200, reply
    p = reply.json
    assert [c["equity"] for c in p["equity_curve"]] == equities
    assert p["total_return"] == pytest.approx(0.089)
    assert p["max_drawdown"] == pytest.approx(990_000 / 1_100_000 - 1)
    assert p["benchmark"]["total_return"] == pytest.approx(0.02)
    assert p["benchmark"]["excess_return"] == pytest.approx(0.069)
    assert p["sharpe"] is not None
    stranger = user_factory()
    other = invoke("portfolio", "GET", "/api/v1/portfolio/performance", token=stranger["token"]).json
    assert other["equity_curve"] == []
    bad = invoke("portfolio", "GET", "/api/v1/portfolio/performance", token=user["token"], query={"from": "june"})
    assert bad.status == 400


def test_pure_statistics():
    assert equity_curve.max_drawdown([100, 120, 60, 130, 65]) == pytest.approx(-0.5)
    assert equity_curve.max_drawdown([1, 2, 3]) == 0.0
    assert equity_curve.sharpe([0.01]) is None and equity_curve.sharpe([0.01, 0.01]) is None
    assert equity_curve.returns([100, 110, 99]) == pytest.approx([0.1, -0.1])
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    fills = [{"account_id": "a", "symbol": "X", "side": "buy", "quantity": 10, "filled_at": t0},
             {"account_id": "a", "symbol": "X", "side": "buy", "quantity": 10, "filled_at": t0 + dt.timedelta(hours=2)},
             {"account_id": "a", "symbol": "X", "side": "sell", "quantity": 15,
              "filled_at": t0 + dt.timedelta(hours=4)}]
    # 10 shares held 4 h, 5 shares held 2 h → (40 + 10) / 15 h
    assert activity.holding_seconds(fills) == pytest.approx(50 / 15 * 3600)
    assert activity.holding_seconds(fills[:2]) is None


def _insert_orders(conn, user, symbol, n, *, state, days_ago, reserved_cash=0):
    conn.execute(
        "INSERT INTO orders (user_id, account_id, client_order_id, symbol, market, side, order_type,"
        " time_in_force, quantity, price, reserve_price, reserved_cash, reserved_quantity, broker, trading_day,"
        " state, filled_quantity, filled_value, average_fill_price)"
        " SELECT %(u)s, %(a)s, %(state)s || '-' || g, %(s)s, 'KOSPI', 'buy', 'limit', 'day', 1, 40000, 40000,"
        " %(r)s, 0, 'paper', current_date - %(d)s, %(state)s, CASE WHEN %(state)s = 'filled' THEN 1 ELSE 0 END,"
        " CASE WHEN %(state)s = 'filled' THEN 40000 ELSE 0 END, CASE WHEN %(state)s = 'filled' THEN 40000 ELSE 0 END"
        " FROM generate_series(1, %(n)s) g",
        {"u": user["id"], "a": user["account_id"], "s": symbol, "n": n, "state": state, "d": days_ago,
         "r": reserved_cash})


def test_the_summary_reads_the_callers_open_orders_alone(trader, listed, resources, database_url):
    """What open buys hold back is read from the caller's own open orders: neither a long history
    of their closed orders nor other users' open orders are read, whether the summary covers
    one account or all of them (and after the statements have gone to generic plans)."""
    symbol = listed(price=50_000)
    user, other = trader(cash=5_000_000), trader(cash=5_000_000)
    for each in (user, other):  # opens each account's books
        assert invoke("place-order", "POST", PATH, order_body(symbol, quantity=1, price=45_000),
                      token=each["token"]).json["status"] == "accepted"
    with psycopg.connect(database_url, autocommit=True) as conn:    # the tables' owner
        _insert_orders(conn, user, symbol, 3000, state="filled", days_ago=3)
        _insert_orders(conn, other, symbol, 3000, state="accepted", days_ago=0, reserved_cash=40_006)
        conn.execute("ANALYZE orders")
    for account_id in (None, user["account_id"]):
        with db.tenant(resources.pool, user["id"]) as conn:
            for _ in range(12):  # past psycopg's prepare threshold and PostgreSQL's five custom plans
                before = rows_read(conn, "orders")
                _, _, reserved = holdings.read_books(conn, user["id"], account_id)
                read = rows_read(conn, "orders") - before
        assert int(reserved["reserved"]) == 45_000 + _fee(45_000)
        assert read < 20, (account_id, read)
