"""Paper broker: market-order fills per second (each one a validated order, a fill, cash and
holdings moved in one PostgreSQL transaction, and an `orders.fill` event on NATS)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

from autostock import db
from autostock.brokers.base import OrderRequest, OrderType, Side
from autostock.brokers.paper import PaperBroker
from autostock.market.quotes import SEOUL, StoredQuote, write_quote
from bench._services import temporary_resources

AT = dt.datetime(2025, 6, 16, 10, 0, tzinfo=SEOUL)   # a session, so the session check runs for real


def _broker(resources, symbol: str) -> PaperBroker:
    with db.service(resources.pool) as conn:
        user = conn.execute("INSERT INTO users (email, username, password_hash) VALUES (%s, %s, 'x')"
                            " RETURNING id", (f"{symbol}@bench", f"bench_{uuid.uuid4().hex[:10]}")).fetchone()
    broker = PaperBroker(resources, str(uuid.uuid4()), str(user["id"]), clock=lambda: AT,
                         starting_cash=10**12)
    broker.connect()
    return broker


def _round_trips(broker: PaperBroker, symbol: str, orders: int) -> None:
    for i in range(orders):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        broker.place_order(OrderRequest(symbol, side, 10, OrderType.MARKET))


def _measure(resources, threads: int, orders: int) -> float:
    brokers = []
    for _ in range(threads):
        symbol = "B" + uuid.uuid4().hex[:5].upper()
        write_quote(resources.redis, resources.settings,
                    StoredQuote(code=symbol, price=70_000, bid=69_900, ask=70_000, prev_close=70_000, at=AT))
        brokers.append((_broker(resources, symbol), symbol))
    workers = [threading.Thread(target=_round_trips, args=(b, s, orders)) for b, s in brokers]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * orders / (time.perf_counter() - started)


def run(quick: bool) -> dict:
    orders = 100 if quick else 2_000
    with temporary_resources("paper") as resources:
        _measure(resources, 1, 20)                     # warm the pool, the calendar, NATS
        single = _measure(resources, 1, orders)
        parallel = _measure(resources, 4, orders // 2)
    return {"market_fills_per_second_1_account": round(single, 1),
            "market_fills_per_second_4_accounts_4_threads": round(parallel, 1),
            "orders_per_account": orders}
