"""Per-key request pacing shared by every process through Redis (or local to one process).

Brokers count requests per app key per second (KIS: 20/s real, 2/s paper). Instead of
bursting up to the limit and waiting, each call reserves the next free slot `1/rate + margin`
seconds after the previous one, so the broker's token bucket never empties even with some
network jitter. Redis's own clock (TIME) orders the slots, so processes on one host share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis as redis_lib

from autostock.errors import BrokerUnavailable

# KEYS[1] = slot key, ARGV[1] = interval in microseconds; returns how long to wait (µs).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval = tonumber(ARGV[1])
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil(interval / 1000) + 5000)
return slot - now
"""


class Pacer:
    """Call `wait()` before each request to the paced service."""

    def __init__(self, rate: float, *, redis: redis_lib.Redis | None = None, key: str = "",
                 margin: float = 0.01, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate + margin
        self._redis = redis
        self._key = key
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self._script = redis.register_script(_RESERVE) if redis is not None else None

    def reserve(self) -> float:
        """Take the next slot; returns the seconds to wait before using it."""
        if self._script is not None:
            try:
                return int(self._script(keys=[self._key], args=[int(self.interval * 1_000_000)])) / 1_000_000
            except redis_lib.RedisError as e:
                raise BrokerUnavailable("pacing store unavailable") from e
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    def wait(self) -> float:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay
