"""Identity: who is calling, and what they may do.

`authenticate` is the one entry every function uses (through `Request.principal`). It accepts
a JWT access token (`Authorization: Bearer ...`) or a personal API key (`X-API-Key: ...` or
`Authorization: ApiKey ...`), checks revocation and that the user is still active, narrows the
scopes to what the user's permissions give now, applies the IP allowlist to trading scopes and
counts the call against the per-user rate limit and daily quota.

`verify_access_token` and `still_standing` make the same checks of an access token for a
long-lived connection (the market stream), at connect and then periodically, counting nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from autostock.auth import apikeys, signing, standing
from autostock.auth.tokens import (Principal, decode_access_token, issue_access_token, principal_from_claims,
                                   revocation_keys)
from autostock.errors import AuthError, Forbidden
from autostock.resources import Resources

__all__ = ["Principal", "authenticate", "client_ip", "issue_access_token", "require_scope", "require_session",
           "still_standing", "verify_access_token"]

TRADING_SCOPES = frozenset({"trade", "paper", "real"})


def bearer_token(event: Any) -> str:
    header = event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("a bearer access token is required", code="missing_token")
    return token.strip()


def api_key_from(event: Any) -> str | None:
    header = event.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "apikey" and value.strip():
        return value.strip()
    return event.headers.get("x-api-key") or None


def client_ip(event: Any) -> str:
    """The caller's address: `X-Real-IP` as set (overwritten) by our nginx, else the socket's."""
    return (event.headers.get("x-real-ip") or getattr(event, "remote_addr", "") or "0.0.0.0").strip()


def authenticate(resources: Resources, event: Any) -> Principal:
    """The caller of `event`, or AuthError (401); RateLimited (429) past a limit or the quota."""
    settings = resources.settings
    raw_key = api_key_from(event)
    if raw_key:
        key = apikeys.verify(resources, raw_key)
        if key["signing_secret"] and event.method not in signing.SAFE_METHODS:
            signing.verify(settings, resources.redis, key["signing_secret"], event)
        claimed = set(key["scopes"])
        if "trade" in claimed:
            claimed |= {"paper", "real"}  # narrowed to what the user may do just below
        base = Principal(user_id=str(key["user_id"]), scopes=frozenset(), via="api_key", api_key_id=str(key["id"]))
        marks: list[str] = []
    else:
        base = principal_from_claims(decode_access_token(settings, bearer_token(event)))
        claimed, marks = set(base.scopes), revocation_keys(settings, base.jti, base.session_id)
    current, revoked = standing.admit(resources, base.user_id, marks)
    problem = _standing_problem(current, revoked)
    if problem is not None:
        raise problem
    current = cast(standing.Standing, current)  # no standing at all is a problem above
    return Principal(user_id=current.user_id, scopes=frozenset(claimed) & current.scopes, jti=base.jti,
                     expires_at=base.expires_at, via=base.via, session_id=base.session_id,
                     api_key_id=base.api_key_id,
                     trade_ip_ok=standing.ip_allowed(client_ip(event), current.ip_allowlist))


def verify_access_token(resources: Resources, token: str) -> Principal:
    """The principal of a bearer access token, checked as `authenticate` checks one (signature,
    issuer, audience, expiry, the token or its session not revoked, the user active) but not
    counted against the rate limit or quota; its scopes are the token's. AuthError otherwise."""
    principal = principal_from_claims(decode_access_token(resources.settings, token))
    problem = still_standing(resources, [principal])[0]
    if problem is not None:
        raise problem
    return principal


def still_standing(resources: Resources, principals: Sequence[Principal]) -> list[AuthError | None]:
    """For each principal of a token verified earlier: why it no longer stands (the token or its
    session revoked, the user disabled or gone), or None. One Redis round trip for them all; the
    database only for users whose standing is not cached. Expiry is the caller's to watch."""
    marks = [revocation_keys(resources.settings, p.jti, p.session_id) for p in principals]
    flat = list(dict.fromkeys(m for keys in marks for m in keys))
    standings, values = standing.load_many(resources, (p.user_id for p in principals), *flat)
    present = {mark for mark, value in zip(flat, values) if value is not None}
    return [_standing_problem(standings[p.user_id], not present.isdisjoint(keys))
            for p, keys in zip(principals, marks)]


def _standing_problem(current: standing.Standing | None, revoked: bool) -> AuthError | None:
    """Why a token of a user with standing `current` is refused (None: it is not)."""
    if revoked:
        return AuthError("access token has been revoked", code="token_revoked")
    if current is None or not current.active:
        return AuthError("this user is disabled", code="user_inactive")
    return None


def require_scope(principal: Principal, scope: str) -> None:
    """Forbidden (403) unless the caller holds `scope`; trading scopes also need an allowed IP."""
    if not principal.has(scope):
        raise Forbidden(f"this call needs the '{scope}' permission", code="missing_scope")
    if scope in TRADING_SCOPES and not principal.trade_ip_ok:
        raise Forbidden("trading calls are not allowed from this address (IP allowlist)",
                        code="ip_not_allowed")


def require_session(principal: Principal) -> None:
    """Forbidden for API keys: managing credentials needs an interactive login."""
    if principal.via != "jwt":
        raise Forbidden("this call needs a login session, not an API key", code="session_required")
