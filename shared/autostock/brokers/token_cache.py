"""Broker access tokens cached in Redis and shared by every process.

Brokers limit how often a token may be issued (KIS: once a minute, 403 EGW00133) and some
alert the user on each issue, so one token serves every worker until shortly before it
expires. A Redis lock makes sure an expired token is re-issued once, by one process, while
the others wait for the new one; `min_issue_interval` spaces issues to the broker's rule.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis as redis_lib

from autostock.errors import BrokerUnavailable

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_INVALIDATE = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: float          # epoch seconds


class TokenCache:
    """`get(issue)` returns a valid token, calling `issue()` only when none is cached."""

    def __init__(self, redis: redis_lib.Redis, key: str, *, refresh_before: float = 300.0,
                 min_issue_interval: float = 60.0, wait_timeout: float = 30.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._redis = redis
        self.key = key
        self.refresh_before = refresh_before
        self.min_issue_interval = min_issue_interval
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._sleep = sleep
        self._release = redis.register_script(_RELEASE)
        self._invalidate = redis.register_script(_INVALIDATE)

    def peek(self) -> IssuedToken | None:
        raw = self._redis.get(self.key)
        if not raw:
            return None
        data = json.loads(raw)
        token = IssuedToken(data["token"], float(data["expires_at"]))
        return token if token.expires_at - self.refresh_before > self._clock() else None

    def get(self, issue: Callable[[], IssuedToken]) -> str:
        try:
            return self._get(issue)
        except redis_lib.RedisError as e:
            raise BrokerUnavailable("token store unavailable") from e

    def _get(self, issue: Callable[[], IssuedToken]) -> str:
        deadline = time.monotonic() + self.wait_timeout
        while True:
            cached = self.peek()
            if cached:
                return cached.token
            owner = uuid.uuid4().hex
            if self._redis.set(self.key + ":lock", owner, nx=True, px=int(self.wait_timeout * 1000)):
                try:
                    return self._issue_locked(issue)
                finally:
                    self._release(keys=[self.key + ":lock"], args=[owner])
            if time.monotonic() > deadline:
                raise BrokerUnavailable("timed out waiting for another process to issue a token")
            self._sleep(0.05)

    def _issue_locked(self, issue: Callable[[], IssuedToken]) -> str:
        cached = self.peek()  # another process may have finished while we took the lock
        if cached:
            return cached.token
        last = float(self._redis.get(self.key + ":issued") or 0)
        wait = last + self.min_issue_interval - self._clock()
        if wait > 0:
            self._sleep(wait)
        token = issue()
        ttl_ms = max(1000, int((token.expires_at - self._clock()) * 1000))
        self._redis.set(self.key, json.dumps({"token": token.token, "expires_at": token.expires_at}), px=ttl_ms)
        self._redis.set(self.key + ":issued", str(self._clock()), px=max(1000, int(self.min_issue_interval * 1000)))
        return token.token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the broker said it expired), unless another process already replaced it."""
        try:
            self._invalidate(keys=[self.key], args=[token])
        except redis_lib.RedisError as e:
            raise BrokerUnavailable("token store unavailable") from e
