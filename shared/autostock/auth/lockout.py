"""Login back-off and temporary lock, per account name and per client IP, in Redis.

After a few free failures each further failure doubles the wait before the next attempt
(1 s, 2 s, 4 s, ... up to 5 minutes); at the lock threshold the name (or IP) is locked for 15
minutes. A success clears the account's count (not the IP's: one good password must not
launder an IP that is guessing at others). Counts forget themselves 15 minutes after the
last failure.
"""

from __future__ import annotations

import redis

from autostock.config import Settings
from autostock.errors import RateLimited

WINDOW = 15 * 60
LOCK_SECONDS = 15 * 60
MAX_BACKOFF = 5 * 60
# (free failures, failures that lock) for an account name and for an IP.
ACCOUNT_POLICY = (3, 10)
IP_POLICY = (10, 50)


def _subjects(settings: Settings, username: str, ip: str) -> list[tuple[str, tuple[int, int]]]:
    return [(settings.redis_key("login", "name", username.strip().lower()), ACCOUNT_POLICY),
            (settings.redis_key("login", "ip", ip), IP_POLICY)]


def check(settings: Settings, client: redis.Redis, username: str, ip: str) -> None:
    """Raise RateLimited (429 + Retry-After) while the name or the IP must wait."""
    pipe = client.pipeline(transaction=False)
    for key, _ in _subjects(settings, username, ip):
        pipe.ttl(key + ":block")
        pipe.get(key + ":locked")
    results = pipe.execute()
    waits = [ttl for ttl in results[0::2] if ttl and ttl > 0]
    if waits:
        locked = any(results[1::2])
        raise RateLimited("too many failed logins; " + ("temporarily locked" if locked else "slow down"),
                          code="login_locked" if locked else "login_backoff", retry_after=max(waits),
                          details={"retry_after": max(waits)})


def fail(settings: Settings, client: redis.Redis, username: str, ip: str) -> int:
    """Count a failure; returns the wait (seconds) it imposes on the account name."""
    waits = []
    for key, (free, lock_at) in _subjects(settings, username, ip):
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW)
        count = pipe.execute()[0]
        wait = LOCK_SECONDS if count >= lock_at else (min(2 ** (count - free - 1), MAX_BACKOFF)
                                                      if count > free else 0)
        if wait:
            client.set(key + ":block", "1", ex=wait)
            if count >= lock_at:
                client.set(key + ":locked", "1", ex=wait)
        waits.append(wait)
    return waits[0]


def clear(settings: Settings, client: redis.Redis, username: str) -> None:
    key = _subjects(settings, username, "-")[0][0]
    client.delete(key, key + ":block", key + ":locked")
