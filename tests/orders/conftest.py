"""Fixtures for order tests: a settable clock, listed symbols with quotes, paper traders."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from autostock import accounts, db, orders, timetable
from autostock.market.quotes import StoredQuote, write_quote
from autostock.orders.routing import desk_with_clock

from tests.helpers import SESSION_TIME, SettableClock


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(SESSION_TIME)


@pytest.fixture
def desk(resources, clock) -> Iterator[orders.Desk]:
    made = desk_with_clock(resources, clock)
    made.quote_ttl = 0
    orders.install(made)
    timetable.install_clock(clock)
    yield made
    orders.install(None)
    timetable.install_clock(None)


@pytest.fixture
def quote(resources, clock) -> Callable[..., StoredQuote]:
    """`quote(code, price, prev_close=None, bid=0, ask=0)`: the latest price in Redis."""
    def put(code: str, price: int, *, prev_close: int | None = None, bid: int = 0, ask: int = 0,
            market: str = "KOSPI") -> StoredQuote:
        stored = StoredQuote(code=code, price=price, bid=bid, ask=ask, volume=1_000,
                             prev_close=price if prev_close is None else prev_close, at=clock(),
                             market=market)
        write_quote(resources.redis, resources.settings, stored)
        return stored
    return put


@pytest.fixture
def listed(resources, quote) -> Callable[..., str]:
    """`listed(price=70_000, code=None, market="KOSPI")` → a listed symbol with a live quote."""
    def make(price: int = 70_000, code: str | None = None, market: str = "KOSPI",
             prev_close: int | None = None) -> str:
        code = code or "Q" + uuid.uuid4().hex[:5].upper()
        with db.service(resources.pool) as conn:
            conn.execute("INSERT INTO symbols (code, name_ko, market) VALUES (%s, %s, %s)"
                         " ON CONFLICT (code) DO NOTHING", (code, f"test {code}", market))
        quote(code, price, prev_close=prev_close, market=market)
        return code
    return make


@pytest.fixture
def trader(resources, user_factory, desk) -> Callable[..., dict[str, Any]]:
    """`trader(cash=10_000_000, user=None, **limits_and_user_columns)` → a user with a paper account.

    Returns {"id", "token", "account_id", ...}; daily_trade_limit defaults high for load tests.
    """
    account_keys = ("max_position_size", "max_daily_trades", "allowed_products")

    def make(cash: int = 10_000_000, user: dict | None = None, **options: Any) -> dict[str, Any]:
        limits = {k: options.pop(k) for k in account_keys if k in options}
        options.setdefault("daily_trade_limit", 10_000)
        user = user or user_factory(**options)
        account = accounts.create_account(resources, user["id"], broker="paper", is_paper=True,
                                          starting_cash=cash, **limits)
        return {**user, "account_id": account["id"]}
    return make


def order_body(symbol: str, *, side: str = "buy", quantity: int = 10, price: int | None = 70_000,
               order_type: str = "limit", **extra: Any) -> dict[str, Any]:
    body = {"symbol": symbol, "side": side, "quantity": quantity, "order_type": order_type, **extra}
    if price is not None:
        body["price"] = price
    return body


def books_reconcile(resources, account_id: str) -> dict[str, Any]:
    """Check the invariants of one account's books; returns the figures for further asserts."""
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT cash FROM account_books WHERE account_id = %s", (account_id,)).fetchone()
        if row is None:  # never traded: no books were opened
            assert not conn.execute("SELECT 1 FROM orders WHERE account_id = %s", (account_id,)).fetchone()
            return {"cash": None, "held": {}}
        cash = row["cash"]
        ledger = conn.execute("SELECT coalesce(sum(amount), 0) AS s FROM cash_ledger WHERE account_id = %s",
                              (account_id,)).fetchone()["s"]
        fills = conn.execute(
            "SELECT symbol, sum(CASE WHEN side = 'buy' THEN quantity ELSE -quantity END) AS q"
            " FROM fills WHERE account_id = %s GROUP BY symbol", (account_id,)).fetchall()
        held = {r["symbol"]: r["quantity"] for r in conn.execute(
            "SELECT symbol, quantity FROM positions WHERE account_id = %s", (account_id,)).fetchall()}
        order_fills = conn.execute(
            "SELECT o.id, o.filled_quantity, coalesce(sum(f.quantity), 0) AS q FROM orders o"
            " LEFT JOIN fills f ON f.order_id = o.id WHERE o.account_id = %s GROUP BY o.id",
            (account_id,)).fetchall()
        reservations = conn.execute(
            "SELECT count(*) AS n FROM orders WHERE account_id = %s AND state IN"
            " ('filled', 'cancelled', 'rejected', 'expired') AND (reserved_cash <> 0 OR reserved_quantity <> 0)",
            (account_id,)).fetchone()["n"]
    assert cash == ledger, "cash balance equals the sum of the ledger"
    assert cash >= 0
    assert {r["symbol"]: r["q"] for r in fills} == {s: q for s, q in held.items() if q or s in
                                                    {r["symbol"] for r in fills}}
    assert all(r["filled_quantity"] == r["q"] for r in order_fills), "order totals match their fills"
    assert reservations == 0, "closed orders hold nothing back"
    return {"cash": cash, "held": held}


@pytest.fixture(autouse=True, scope="session")
def _handlers_loaded() -> None:
    """Import the handlers once up front: tests.helpers.load_handler is not thread-safe on a
    first import, and several tests here call handlers from many threads at once."""
    from tests.helpers import load_handler
    for name in ("place-order", "orders", "portfolio", "market-clock", "admin"):
        load_handler(name)
