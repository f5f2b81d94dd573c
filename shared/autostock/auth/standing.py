"""A user's current standing: active or not, the scopes their permissions give, their IP
allowlist and daily quota. Cached briefly in Redis so authenticating a call costs one round
trip; every change of permissions or settings drops the cache (`forget`), so it takes effect
at the next call, not at the next login.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from autostock import db
from autostock.errors import ValidationError
from autostock.resources import Resources

CACHE_SECONDS = 30
_COLUMNS = "id, is_active, is_admin, can_paper_trade, can_real_trade, api_calls_limit, ip_allowlist"


@dataclass(frozen=True)
class Standing:
    user_id: str
    active: bool
    scopes: frozenset[str]
    ip_allowlist: tuple[str, ...] = ()
    api_calls_limit: int = 0


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
                    api_calls_limit=int(row["api_calls_limit"]))


def _cache_key(resources: Resources, user_id: str) -> str:
    return resources.settings.redis_key("standing", user_id)


def load(resources: Resources, user_id: str, *also: str) -> tuple[Standing | None, list[Any]]:
    """The user's standing (None: no such user) and the values of the extra Redis keys `also`,
    fetched in the same round trip (the token's revocation marks)."""
    key = _cache_key(resources, user_id)
    cached, *others = resources.redis.mget([key, *also])
    if cached is not None:
        data = json.loads(cached)
        return (Standing(**{**data, "scopes": frozenset(data["scopes"]), "ip_allowlist": tuple(data["ip_allowlist"])})
                if data else None), others
    with db.service(resources.pool) as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = %s", (user_id,)).fetchone()  # noqa: S608
    standing = from_row(row) if row else None
    payload = {} if standing is None else {**standing.__dict__, "scopes": sorted(standing.scopes),
                                           "ip_allowlist": list(standing.ip_allowlist)}
    resources.redis.set(key, json.dumps(payload), ex=CACHE_SECONDS)
    return standing, others


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
