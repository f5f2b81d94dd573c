"""Which `Broker` serves an account: one adapter instance per account per process.

Adapters are looked up by the account's broker name in `ADAPTERS` (quirks stay in the
adapters; nothing here says `if broker == ...`). Real brokers get their decrypted
credentials from identity's `accounts.get_credentials` when first used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from autostock.brokers.base import Broker
from autostock.errors import BrokerUnavailable
from autostock.orders.desk import AccountTerms, Clock, Desk, system_clock
from autostock.resources import Resources

AdapterFactory = Callable[[Resources, AccountTerms, Clock], Broker]


def _paper(resources: Resources, account: AccountTerms, clock: Clock) -> Broker:
    from autostock.brokers.paper import PaperBroker
    from autostock.brokers.paper.model import PaperConfig
    return PaperBroker(resources, account.id, account.user_id, clock=clock,
                       starting_cash=account.starting_cash,
                       config=PaperConfig(check_session=not resources.settings.market_always_open))


def _kis(resources: Resources, account: AccountTerms, clock: Clock) -> Broker:
    from autostock import accounts
    from autostock.brokers.kis.broker import KisBroker
    credentials = accounts.get_credentials(resources, account.user_id, account.id)
    return KisBroker(resources.settings, credentials, resources.redis, clock=clock)


ADAPTERS: dict[str, AdapterFactory] = {"paper": _paper, "kis": _kis}

# Adapters whose books are in the platform's own database: order entry places with them inside
# its own transaction (`Broker.place_order_in`), so that recording, placing, filling and
# settling an order is one commit, and such an order can never be `unknown`.
IN_TRANSACTION: frozenset[str] = frozenset({"paper"})


class BrokerRouter:
    """account → its adapter, built once and kept (tokens and sessions live in the adapter)."""

    def __init__(self, resources: Resources, adapters: dict[str, AdapterFactory] | None = None,
                 *, clock: Clock = system_clock) -> None:
        self.resources = resources
        self.clock = clock
        self.adapters = adapters if adapters is not None else ADAPTERS
        self._made: dict[str, Broker] = {}
        self._lock = threading.Lock()

    def __call__(self, account: AccountTerms) -> Broker:
        with self._lock:
            found = self._made.get(account.id)
        if found is not None:
            return found
        factory = self.adapters.get(account.broker)
        if factory is None:
            raise BrokerUnavailable(f"orders for {account.broker} accounts are not available yet",
                                    code="broker_not_supported")
        made = factory(self.resources, account, self.clock)
        with self._lock:
            return self._made.setdefault(account.id, made)

    def places_in_transaction(self, account: AccountTerms) -> bool:
        """Whether order entry places with this account's broker inside its own transaction.
        Answered from the registry, without building the adapter: a real broker's adapter reads
        its credentials from the database, which must not happen inside the caller's transaction."""
        return account.broker in IN_TRANSACTION


def desk_with_clock(resources: Resources, clock: Clock) -> Desk:
    """A desk whose brokers and risk checks share one clock (tests, benchmarks)."""
    return Desk(resources=resources, brokers=BrokerRouter(resources, clock=clock), clock=clock)


def default_desk(resources: Resources) -> Desk:
    return desk_with_clock(resources, system_clock)
