"""Fixtures for broker tests: a settable clock, quotes in Redis, paper accounts."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from autostock.brokers.paper import PaperBroker, PaperConfig, run_matcher
from autostock.market.quotes import SEOUL, StoredQuote, write_quote

# A Monday in 2025, mid-session: 2025 sell tax 0.15 % (docs/brokers.md §4.4).
SESSION_TIME = dt.datetime(2025, 6, 16, 10, 0, tzinfo=SEOUL)


class SettableClock:
    """The paper broker's injectable clock; tests move it."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(SESSION_TIME)


@pytest.fixture
def symbol() -> str:
    """A code of this test alone, so the matcher never sees another test's orders."""
    return "T" + uuid.uuid4().hex[:5].upper()


@pytest.fixture
def set_quote(resources) -> Callable[..., StoredQuote]:
    def put(code: str, price: int, *, bid: int = 0, ask: int = 0, prev_close: int | None = None,
            market: str = "KOSPI", volume: int = 1_000, at: dt.datetime = SESSION_TIME) -> StoredQuote:
        quote = StoredQuote(code=code, price=price, bid=bid, ask=ask, volume=volume,
                            prev_close=price if prev_close is None else prev_close, at=at, market=market)
        write_quote(resources.redis, resources.settings, quote)
        return quote
    return put


@pytest.fixture
def paper_factory(resources, user_factory, clock) -> Callable[..., PaperBroker]:
    """`paper_factory(cash=10_000_000, user=None, config=None)` → a connected PaperBroker."""
    def make(cash: int = 10_000_000, user: dict | None = None, config: PaperConfig | None = None,
             account_id: str | None = None) -> PaperBroker:
        user = user or user_factory()
        broker = PaperBroker(resources, account_id or str(uuid.uuid4()), user["id"], clock=clock,
                             starting_cash=cash, config=config)
        broker.connect()
        return broker
    return make


@pytest.fixture
def paper(paper_factory) -> PaperBroker:
    return paper_factory()


@pytest.fixture
def matcher(settings) -> Iterator[None]:
    """The paper matcher on a thread, consuming this run's `ticks.>` through real NATS."""
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_matcher, args=(settings, stop), kwargs={"ready": ready},
                              name="paper-matcher", daemon=True)
    thread.start()
    assert ready.wait(10), "paper matcher did not subscribe"
    yield
    stop.set()
    thread.join(10)
