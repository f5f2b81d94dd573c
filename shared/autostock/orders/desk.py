"""The trading desk: what order code needs besides the database, in one injectable object.

A `Desk` holds the process's resources, the clock (injectable, so tests and benchmarks run at
any time of day), the cost model and the broker router (account → `Broker`). Handlers reach
it through `current()`; tests and the benchmark `install()` their own.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from autostock.brokers.base import Broker, Quote
from autostock.events import ORDERS
from autostock.market.calendar import SEOUL
from autostock.market.costs import CostModel
from autostock.resources import Resources

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fixed_clock(at: dt.datetime) -> Clock:
    """A clock frozen at `at` (aware)."""
    return lambda: at


@dataclass(frozen=True)
class AccountTerms:
    """The parts of a broker account that order entry and risk read."""

    id: str
    user_id: str
    broker: str
    paper: bool
    active: bool = True
    allowed_products: tuple[str, ...] = ("stock", "etf")
    max_position_size: int | None = None     # KRW value of one position after the order
    max_daily_trades: int | None = None
    starting_cash: int = 0                   # paper accounts: the cash they open with


class BrokerRouter(Protocol):
    """account → its `Broker` (`orders.routing.BrokerRouter`)."""

    def __call__(self, account: AccountTerms) -> Broker: ...

    def places_in_transaction(self, account: AccountTerms) -> bool: ...


@dataclass
class Desk:
    resources: Resources
    brokers: BrokerRouter
    clock: Clock = system_clock
    costs: CostModel = field(default_factory=CostModel)
    # symbol → (fetched at, quote): a short cache so that a burst of orders asks once.
    _references: dict[str, tuple[float, Quote]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    quote_ttl: float = 2.0

    def now(self) -> dt.datetime:
        return self.clock().astimezone(SEOUL)

    def today(self) -> dt.date:
        return self.now().date()

    def broker_for(self, account: AccountTerms) -> Broker:
        return self.brokers(account)

    def places_in_transaction(self, account: AccountTerms) -> bool:
        """Whether `account`'s broker places inside order entry's own transaction (paper)."""
        return self.brokers.places_in_transaction(account)

    def reference(self, account: AccountTerms, symbol: str) -> Quote:
        """The latest quote with the daily limits of `symbol`, from the account's broker."""
        now = time.monotonic()
        with self._lock:
            found = self._references.get(symbol)
        if found is not None and now - found[0] < self.quote_ttl:
            return found[1]
        quote = self.broker_for(account).quote(symbol)
        with self._lock:
            self._references[symbol] = (now, quote)
        return quote


    def publish(self, event: str, payload: dict[str, Any]) -> None:
        """Queue `orders.<event>` for NATS (sent after the commit, off the request path)."""
        self.resources.events.publish_soon(f"{ORDERS}.{event}", payload)

    def settle_notices(self, timeout: float = 5.0) -> bool:
        return self.resources.events.wait_published(timeout)


_lock = threading.Lock()
_desk: Desk | None = None
_factory: Callable[[Resources], Desk] | None = None


def install(desk: Desk | None) -> None:
    """Use `desk` for every handler in this process (tests, the benchmark, the runtime)."""
    global _desk
    with _lock:
        _desk = desk


def set_factory(factory: Callable[[Resources], Desk] | None) -> None:
    """How to build the process's desk on first use (a deployed function's default)."""
    global _factory
    with _lock:
        _factory = factory


def current(resources: Resources) -> Desk:
    global _desk
    with _lock:
        if _desk is None:
            from autostock.orders.routing import default_desk
            _desk = (_factory or default_desk)(resources)
        return _desk
