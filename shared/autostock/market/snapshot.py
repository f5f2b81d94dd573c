"""quote-snapshot: latest quotes for up to 50 codes, from Redis, with the quote's age.

A code whose collector quote is missing or older than `settings.quote_max_age` is asked of the
platform broker's current-price call, through a short Redis cache and a Redis lock per code
(single flight): however many callers miss at once, in however many processes, one broker call
is made per code per `CACHE_MS`; the others wait for its answer. A broker failure leaves a
stale quote marked stale, or the code listed under `missing`; it never fails the whole request.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from autostock.brokers.base import Broker, Quote
from autostock.config import Settings
from autostock.errors import AppError, ValidationError
from autostock.resources import Resources
from autostock.market import platform
from autostock.market.calendar import SEOUL
from autostock.market.quotes import StoredQuote, parse_quote

MAX_CODES = 50
CACHE_MS = 2000          # a broker answer serves every caller for this long
LOCK_MS = 3000           # longest a broker call may hold the flight before another may try
WAIT_STEP = 0.005
_CODE = re.compile(r"^[0-9A-Z]{6}$")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def parse_codes(raw: str | None) -> list[str]:
    codes = list(dict.fromkeys(c.strip().upper() for c in (raw or "").split(",") if c.strip()))
    if not codes:
        raise ValidationError("codes is required, e.g. codes=005930,000660", code="missing_codes")
    if len(codes) > MAX_CODES:
        raise ValidationError(f"at most {MAX_CODES} codes per request, got {len(codes)}", code="too_many_codes")
    bad = [c for c in codes if not _CODE.match(c)]
    if bad:
        raise ValidationError(f"not a stock code: {bad[0]!r}", code="invalid_code", details={"codes": bad})
    return codes


def _view(q: StoredQuote, source: str, now: float) -> dict[str, Any]:
    age = max(0, int((now - q.at.timestamp()) * 1000)) if q.at else None
    return {"code": q.code, "price": q.price, "bid": q.bid, "ask": q.ask, "volume": q.volume,
            "prev_close": q.prev_close, "change": q.price - q.prev_close if q.prev_close else 0,
            "at": q.at.isoformat() if q.at else None, "age_ms": age, "source": source}


def _from_broker(q: Quote, now: float) -> StoredQuote:
    at = dt.datetime.fromtimestamp(now, SEOUL)
    return StoredQuote(q.symbol, q.price, q.bid, q.ask, q.volume, q.previous_close, at)


class Snapshots:
    """Quote lookups for one process (the quote-snapshot function keeps one)."""

    def __init__(self, settings: Settings, client: redis.Redis, broker: Callable[[], Broker],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.redis = client
        self.broker = broker
        self.clock = clock
        self.broker_calls = 0
        self._release = client.register_script(_RELEASE)

    def get(self, codes: list[str]) -> dict[str, Any]:
        now = self.clock()
        key = self.settings.redis_key
        live = self.redis.mget([key("quote", c) for c in codes])
        out: dict[str, dict[str, Any]] = {}
        stale: dict[str, StoredQuote | None] = {}
        for code, raw in zip(codes, live, strict=True):
            q = parse_quote(raw) if raw else None
            if q is not None and q.at is not None and now - q.at.timestamp() <= self.settings.quote_max_age:
                out[code] = _view(q, "stream", now)
            else:
                stale[code] = q
        missing = []
        for code, old in stale.items():
            fresh = self._single_flight(code)
            if fresh is not None:
                out[code] = _view(fresh, "broker", self.clock())
            elif old is not None:
                out[code] = _view(old, "stale", now)
            else:
                missing.append(code)
        return {"quotes": [out[c] for c in codes if c in out], "missing": missing,
                "max_age_ms": self.settings.quote_max_age * 1000}

    def _single_flight(self, code: str) -> StoredQuote | None:
        key = self.settings.redis_key
        cache_key, lock_key = key("quote_rest", code), key("quote_rest_lock", code)
        deadline = time.monotonic() + LOCK_MS / 1000 + 0.5
        while time.monotonic() < deadline:
            hit, quote = self._cached(cache_key)
            if hit:
                return quote
            token = uuid.uuid4().hex
            if self.redis.set(lock_key, token, nx=True, px=LOCK_MS):
                try:
                    # The previous holder may have filled the cache between our read and our lock.
                    hit, quote = self._cached(cache_key)
                    return quote if hit else self._fetch(code, cache_key)
                finally:
                    self._release(keys=[lock_key], args=[token])
            time.sleep(WAIT_STEP)   # another caller is asking the broker; its answer lands in the cache
        return None

    def _cached(self, cache_key: str) -> tuple[bool, StoredQuote | None]:
        raw = self.redis.get(cache_key)
        if raw is None:
            return False, None
        return True, (parse_quote(raw) if raw != "-" else None)

    def _fetch(self, code: str, cache_key: str) -> StoredQuote | None:
        self.broker_calls += 1
        try:
            quote = _from_broker(self.broker().quote(code), self.clock())
        except AppError:
            # Remember the failure briefly too, so a broker outage is not hammered by every caller.
            self.redis.set(cache_key, "-", px=CACHE_MS)
            return None
        self.redis.set(cache_key, quote.to_json(), px=CACHE_MS)
        return quote


_lock = threading.Lock()
_by_resources: dict[int, Snapshots] = {}


def for_resources(resources: Resources) -> Snapshots:
    """The process's `Snapshots` over `resources` (one broker connection per process)."""
    with _lock:
        found = _by_resources.get(id(resources))
        if found is None or found.redis is not resources.redis:
            found = Snapshots(resources.settings, resources.redis,
                              lambda: platform.quote_broker(resources.settings, resources.redis))
            _by_resources[id(resources)] = found
        return found


def quotes(resources: Resources, raw_codes: str | None) -> dict[str, Any]:
    """GET /api/v1/market/quotes: the use case behind the handler."""
    return for_resources(resources).get(parse_codes(raw_codes))
