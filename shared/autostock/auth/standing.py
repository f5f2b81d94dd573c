"""A user's current standing: active or not, the scopes their permissions give, their IP
allowlist and daily quota. Cached in Redis; every change of permissions or settings made
through the platform drops the cache (`forget`), so it takes effect at the next call, not at
the next login. The cache's lifetime (CACHE_SECONDS) only bounds how long a change made
around the platform (SQL by hand) goes unseen.

`admit` is what authenticating a call costs: one Redis round trip (one Lua script) reads the
cached standing, checks the token's revocation marks and counts the call against the user's
minute limit and daily quota — only for a live token of an active user. `load_many` reads the
standings of many users and any revocation marks in one round trip, counting nothing: the
market stream checks its long-lived connections with it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from autostock import db, ratelimit
from autostock.errors import ValidationError
from autostock.resources import Resources

# Five minutes: a user who calls less often than this pays one database read per call (a
# transaction and two more Redis round trips); with 1,000 traders at 300 orders/s, a 30 s cache
# made every tenth order pay it.
CACHE_SECONDS = 300
# What a user sees of themselves (/auth/me, /users/profile); cached with the standing.
PROFILE_COLUMNS = ("id, email, username, display_name, is_active, is_verified, is_admin, can_paper_trade,"
                   " can_real_trade, daily_trade_limit, api_calls_limit, totp_enabled, last_login_at, created_at,"
                   " language, timezone, preferences, ip_allowlist")


@dataclass(frozen=True)
class Standing:
    user_id: str
    active: bool
    scopes: frozenset[str]
    ip_allowlist: tuple[str, ...] = ()
    api_calls_limit: int = 0
    profile: dict[str, Any] = field(default_factory=dict, compare=False)


def scopes_for(row: dict[str, Any]) -> frozenset[str]:
    """read always; trade with paper and/or real as granted; admin for admins."""
    scopes = {"read"}
    if row.get("can_paper_trade"):
        scopes |= {"trade", "paper"}
    if row.get("can_real_trade"):
        scopes |= {"trade", "real"}
    if row.get("is_admin"):
        scopes.add("admin")
    return frozenset(scopes)


def from_row(row: dict[str, Any]) -> Standing:
    return Standing(user_id=str(row["id"]), active=bool(row["is_active"]), scopes=scopes_for(row),
                    ip_allowlist=tuple(row.get("ip_allowlist") or ()),
                    api_calls_limit=int(row["api_calls_limit"]), profile=public_view(row))


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """A users row as JSON-ready values (ids and times as strings)."""
    out = dict(row)
    if "id" in out:
        out["id"] = str(out["id"])
    for key, value in out.items():
        if isinstance(value, dt.datetime):
            out[key] = value.isoformat()
    return out


def _cache_key(resources: Resources, user_id: str) -> str:
    return resources.settings.redis_key("standing", user_id)


def _decode(cached: str) -> Standing | None:
    data = json.loads(cached)
    if not data:
        return None
    return Standing(**{**data, "scopes": frozenset(data["scopes"]), "ip_allowlist": tuple(data["ip_allowlist"])})


_ADMIT = ratelimit.WINDOWS_LUA + """
local cached = redis.call('GET', KEYS[1])
if not cached then return {-1} end
local marks = tonumber(ARGV[1])
for i = 2, 1 + marks do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {-2, cached} end
end
local data = cjson.decode(cached)
if data['active'] ~= true then return {-3, cached} end
local limits = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(data['api_calls_limit']), tonumber(ARGV[4])}
local res = admit(2 + marks, limits)
return {res[1], res[2], cached}
"""


def admit(resources: Resources, user_id: str, marks: list[str]) -> tuple[Standing | None, bool]:
    """(standing, revoked) for a call by `user_id` whose token is revoked by any of `marks`;
    counts the call (RateLimited past a limit) when the token is live and the user active."""
    settings, client = resources.settings, resources.redis
    minute, day = ratelimit.user_windows(settings, user_id, 0)
    keys = [_cache_key(resources, user_id), *marks, minute.key, day.key]
    args = [len(marks), minute.limit, minute.ttl, day.ttl]
    run = ratelimit.script(client, _ADMIT)
    result = run(keys=keys, args=args)
    if result[0] == -1:  # not cached: read the database once, then admit
        load(resources, user_id)
        result = run(keys=keys, args=args)
        if result[0] == -1:
            raise RuntimeError("standing cache vanished")  # only if Redis evicts within microseconds
    current = _decode(result[-1])
    if result[0] == -2:
        return current, True
    if result[0] > 0 and current is not None:
        windows = [minute, ratelimit.kst_day_window(settings, f"user:{user_id}", current.api_calls_limit)]
        ratelimit.refuse(windows[int(result[1]) - 1], int(result[0]))
    return current, False


def load(resources: Resources, user_id: str, *also: str) -> tuple[Standing | None, list[Any]]:
    """The user's standing (None: no such user) and the values of the extra Redis keys `also`,
    fetched in the same round trip (the token's revocation marks)."""
    standings, others = load_many(resources, [user_id], *also)
    return standings[user_id], others


def load_many(resources: Resources, user_ids: Iterable[str],
              *also: str) -> tuple[dict[str, Standing | None], list[Any]]:
    """The standing of each user (None: no such user) and the values of the extra Redis keys
    `also`, in one Redis round trip; the users not cached are read in one query, then cached."""
    ids = list(dict.fromkeys(user_ids))
    values = resources.redis.mget([*(_cache_key(resources, u) for u in ids), *also])
    standings = {u: _decode(cached) for u, cached in zip(ids, values) if cached is not None}
    missing = [u for u in ids if u not in standings]
    if missing:
        standings.update(_read(resources, missing))
    return standings, values[len(ids):]


def _read(resources: Resources, user_ids: list[str]) -> dict[str, Standing | None]:
    """Standings from the database, cached for CACHE_SECONDS (an unknown user as `{}`)."""
    wanted = {u: _as_uuid(u) for u in user_ids}
    with db.service(resources.pool) as conn:
        rows = conn.execute(f"SELECT {PROFILE_COLUMNS} FROM users WHERE id = ANY(%s)",  # noqa: S608
                            ([w for w in wanted.values() if w is not None],)).fetchall()
    found = {row["id"]: from_row(row) for row in rows}
    read = {u: found.get(w) for u, w in wanted.items()}
    with resources.redis.pipeline(transaction=False) as pipe:
        for user_id, current in read.items():
            payload = {} if current is None else {**current.__dict__, "scopes": sorted(current.scopes),
                                                  "ip_allowlist": list(current.ip_allowlist)}
            pipe.set(_cache_key(resources, user_id), json.dumps(payload), ex=CACHE_SECONDS)
        pipe.execute()
    return read


def _as_uuid(user_id: str) -> uuid.UUID | None:
    # Token subjects are our own user ids; anything else is no user (and must not fail a batch).
    try:
        return uuid.UUID(user_id)
    except ValueError:
        return None


def profile(resources: Resources, user_id: str) -> tuple[dict[str, Any] | None, int]:
    """The user's profile (from the cache when there) and today's API calls, in one round trip."""
    day = ratelimit.kst_day_window(resources.settings, f"user:{user_id}", 0)
    current, (usage,) = load(resources, user_id, day.key)
    return (current.profile if current else None), int(usage or 0)


def forget(resources: Resources, user_id: str) -> None:
    resources.redis.delete(_cache_key(resources, user_id))


def ip_allowed(ip: str, allowlist: tuple[str, ...] | list[str]) -> bool:
    """True when the list is empty or holds the address or a network containing it."""
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowlist)


def check_allowlist(entries: list[str]) -> list[str]:
    """Normalise an allowlist, refusing what is not an address or network."""
    out = []
    for entry in entries:
        try:
            out.append(str(ipaddress.ip_network(str(entry), strict=False)))
        except ValueError as e:
            raise ValidationError(f"ip_allowlist: {entry!r} is not an IP address or network",
                                  details={"fields": {"ip_allowlist": "malformed entry"}}) from e
    if len(out) > 50:
        raise ValidationError("ip_allowlist holds at most 50 entries")
    return out
