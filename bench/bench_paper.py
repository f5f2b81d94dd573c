"""Paper broker: market-order fills per second (each one a validated order, a fill, cash and
holdings moved in one PostgreSQL transaction, and an `orders.fill` event on NATS), on a new
account and on one with a year of closed orders behind it (an order must cost the same), and
the matcher's tick rate (handled in-process, without NATS in the way)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import psycopg

from autostock import db
from autostock.brokers.base import OrderRequest, OrderType, Side
from autostock.brokers.paper import Matcher, PaperBroker
from autostock.market.quotes import SEOUL, StoredQuote, Tick, write_quote
from bench._services import temporary_resources

AT = dt.datetime(2025, 6, 16, 10, 0, tzinfo=SEOUL)   # a session, so the session check runs for real
# A busy year: 50 orders a day for 250 trading days, all closed (filled) before today.
YEAR_OF_ORDERS = 12_500


def _broker(resources, symbol: str) -> PaperBroker:
    with db.service(resources.pool) as conn:
        user = conn.execute("INSERT INTO users (email, username, password_hash) VALUES (%s, %s, 'x')"
                            " RETURNING id", (f"{symbol}@bench", f"bench_{uuid.uuid4().hex[:10]}")).fetchone()
    broker = PaperBroker(resources, str(uuid.uuid4()), str(user["id"]), clock=lambda: AT,
                         starting_cash=10**14)
    broker.connect()
    return broker


def _round_trips(broker: PaperBroker, symbol: str, orders: int) -> None:
    for i in range(orders):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        broker.place_order(OrderRequest(symbol, side, 10, OrderType.MARKET))


def _history(resources, broker: PaperBroker, symbol: str, orders: int) -> None:
    """`orders` filled orders of earlier days on `broker`'s account (written as the tables' owner)."""
    with psycopg.connect(resources.settings.database_url.reveal(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO paper_orders (account_id, user_id, symbol, market, side, order_type, quantity, price,"
            " filled_quantity, filled_value, state, trade_date)"
            " SELECT %s, %s, %s, 'KOSPI', 'buy', 'limit', 10, 70000, 10, 700000, 'filled', %s - 1 - (g / 50)"
            " FROM generate_series(1, %s) g", (broker.account_id, broker.user_id, symbol, AT.date(), orders))
        conn.execute("ANALYZE paper_orders")


def _measure(resources, threads: int, orders: int, history: int = 0) -> float:
    brokers = []
    for _ in range(threads):
        symbol = "B" + uuid.uuid4().hex[:5].upper()
        write_quote(resources.redis, resources.settings,
                    StoredQuote(code=symbol, price=70_000, bid=69_900, ask=70_000, prev_close=70_000, at=AT))
        brokers.append((_broker(resources, symbol), symbol))
        if history:
            _history(resources, *brokers[-1], history)
    workers = [threading.Thread(target=_round_trips, args=(b, s, orders)) for b, s in brokers]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * orders / (time.perf_counter() - started)


def _matcher_ticks(resources, resting: int, ticks: int) -> tuple[float, float, float]:
    """Ticks/s with `resting` orders on the book: reaching no order one by one, the same in
    batches of 100 (as the matcher drains a burst), and each filling one share."""
    symbol = "M" + uuid.uuid4().hex[:5].upper()
    write_quote(resources.redis, resources.settings,
                StoredQuote(code=symbol, price=70_000, bid=69_900, ask=70_000, prev_close=70_000, at=AT))
    broker = _broker(resources, symbol)
    for i in range(resting):
        broker.place_order(OrderRequest(symbol, Side.BUY, 100_000, OrderType.LIMIT, 60_000 + 100 * (i % 50)))
    matcher = Matcher(resources)
    later = AT + dt.timedelta(minutes=1)
    rates = []
    for price, name, batch in ((70_000, "miss", 1), (70_000, "missb", 100), (64_900, "hit", 1)):
        started = time.perf_counter()
        for i in range(0, ticks, batch):
            matcher.on_ticks([Tick(symbol, price, 1, later, f"{name}{j}") for j in range(i, i + batch)])
        rates.append(ticks / (time.perf_counter() - started))
    return rates[0], rates[1], rates[2]


def run(quick: bool) -> dict:
    orders = 100 if quick else 2_000
    with temporary_resources("paper") as resources:
        _measure(resources, 1, 20)                     # warm the pool, the calendar, NATS
        single = _measure(resources, 1, orders)
        seasoned = _measure(resources, 1, orders, history=YEAR_OF_ORDERS)
        parallel = _measure(resources, 4, orders // 2)
        misses, batched, hits = _matcher_ticks(resources, 20 if quick else 200, 100 if quick else 1_000)
    return {"market_fills_per_second_1_account": round(single, 1),
            "market_fills_per_second_1_account_with_a_years_orders": round(seasoned, 1),
            "closed_orders_in_that_year": YEAR_OF_ORDERS,
            "market_fills_per_second_4_accounts_4_threads": round(parallel, 1),
            "orders_per_account": orders,
            "matcher_ticks_per_second_no_cross": round(misses, 1),
            "matcher_ticks_per_second_no_cross_batches_of_100": round(batched, 1),
            "matcher_ticks_per_second_each_filling": round(hits, 1)}
