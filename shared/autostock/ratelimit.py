"""Rate limits and daily quotas: fixed windows in Redis, checked and counted by one Lua script.

Windows: a minute (per user, per IP) and the Korean calendar day for the API quota, which
resets at 00:00 Asia/Seoul. A refused call is not counted, so a client that waits the
`Retry-After` it was told gets through. Every call is counted in the day's usage, also for
users without a quota.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NoReturn

import redis

from autostock.config import Settings
from autostock.errors import RateLimited

KST_OFFSET = 9 * 3600

# `admit(first, limits)`: the windows are KEYS[first..]; `limits` holds (limit, ttl) pairs.
# Every window is checked first and counted only when all allow, so it is all-or-nothing.
WINDOWS_LUA = """
local function admit(first, limits)
  local retry, which = 0, 0
  for i = first, #KEYS do
    local limit = limits[2 * (i - first) + 1]
    if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
      local ttl = redis.call('TTL', KEYS[i])
      if ttl < 1 then ttl = 1 end
      if ttl > retry then retry, which = ttl, i - first + 1 end
    end
  end
  if retry > 0 then return {retry, which} end
  for i = first, #KEYS do
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], limits[2 * (i - first) + 2]) end
  end
  return {0, 0}
end
"""
_LUA = WINDOWS_LUA + """
local limits = {}
for i, v in ipairs(ARGV) do limits[i] = tonumber(v) end
return admit(1, limits)
"""

_scripts: dict[tuple[int, str], Any] = {}


@dataclass(frozen=True)
class Window:
    """`limit` calls per window (0 = count only); `key` already names the window instance."""

    key: str
    limit: int
    ttl: int
    what: str


def minute_window(settings: Settings, subject: str, limit: int, now: float | None = None) -> Window:
    now = time.time() if now is None else now
    index = int(now // 60)
    return Window(settings.redis_key("rl", subject, "m", index), limit, 60 - int(now % 60), "per-minute")


def kst_day_window(settings: Settings, subject: str, limit: int, now: float | None = None) -> Window:
    shifted = int(time.time() if now is None else now) + KST_OFFSET
    day = shifted // 86400
    return Window(settings.redis_key("quota", subject, day), limit, 86400 - shifted % 86400, "daily")


def script(client: redis.Redis, source: str) -> Any:
    """A registered Lua script for this client (EVALSHA, loaded once)."""
    key = (id(client), source)
    found = _scripts.get(key)
    if found is None:
        found = _scripts[key] = client.register_script(source)
    return found


def refuse(window: Window, retry: int) -> NoReturn:
    raise RateLimited(f"too many requests ({window.what} limit of {window.limit}); retry after {retry} s",
                      code="quota_exceeded" if window.what == "daily" else "rate_limited",
                      retry_after=int(retry), details={"retry_after": int(retry), "limit": window.limit})


def hit(client: redis.Redis, *windows: Window) -> None:
    """Count one call in every window, or raise RateLimited (429 + Retry-After) and count none."""
    args: list[int] = []
    for w in windows:
        args += [max(0, w.limit), max(1, w.ttl)]
    retry, which = script(client, _LUA)(keys=[w.key for w in windows], args=args)
    if retry:
        refuse(windows[int(which) - 1], retry)


def user_windows(settings: Settings, user_id: str, daily_quota: int, now: float | None = None) -> list[Window]:
    """The per-user minute limit and the daily API quota (`users.api_calls_limit`)."""
    return [minute_window(settings, f"user:{user_id}", settings.rate_limit_user_per_minute, now),
            kst_day_window(settings, f"user:{user_id}", daily_quota, now)]


def admit_user(settings: Settings, client: redis.Redis, user_id: str, daily_quota: int) -> None:
    """The per-user minute limit and the daily API quota (`users.api_calls_limit`)."""
    hit(client, *user_windows(settings, user_id, daily_quota))


def admit_ip(settings: Settings, client: redis.Redis, ip: str, scope: str = "auth") -> None:
    """The per-IP minute limit on unauthenticated surfaces (login, register, refresh)."""
    hit(client, minute_window(settings, f"ip:{scope}:{ip}", settings.rate_limit_ip_per_minute))


def usage_today(settings: Settings, client: redis.Redis, user_id: str) -> int:
    return int(client.get(kst_day_window(settings, f"user:{user_id}", 0).key) or 0)
