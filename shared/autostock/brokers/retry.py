"""Bounded retries with exponential back-off, for idempotent reads and rate-limit answers only.

Orders never go through here: `UnknownOutcome` (an order sent, no answer) is re-raised at once,
because sending the order again could buy twice (style rule 5).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from autostock.brokers.base import UnknownOutcome
from autostock.errors import BrokerUnavailable, RateLimited

T = TypeVar("T")


def retry_read(call: Callable[[], T], *, attempts: int = 3, base_delay: float = 0.1, max_delay: float = 2.0,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, retried on BrokerUnavailable/RateLimited up to `attempts` times in all."""
    for attempt in range(attempts):
        try:
            return call()
        except UnknownOutcome:
            raise
        except (BrokerUnavailable, RateLimited):
            if attempt == attempts - 1:
                raise
            sleep(min(max_delay, base_delay * 2 ** attempt))
    raise AssertionError("unreachable")  # pragma: no cover
