"""Access tokens: short-lived JWTs, one pinned algorithm, revocable by `jti`."""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import redis

from autostock.config import Settings
from autostock.errors import AuthError

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, what the token allows, and how they authenticated."""

    user_id: str
    scopes: frozenset[str]
    jti: str = ""
    expires_at: int = 0
    via: str = "jwt"  # "jwt" or "api_key"
    session_id: str = ""      # the refresh-token family a JWT was issued for
    api_key_id: str = ""
    trade_ip_ok: bool = True  # False when the user's IP allowlist excludes this caller

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def issue_access_token(settings: Settings, user_id: str, scopes: list[str] | frozenset[str],
                       *, now: int | None = None, ttl: int | None = None,
                       session_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """Sign an access token; returns (token, claims). `session_id` ties it to a refresh family,
    so revoking the family revokes its access tokens too."""
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": str(user_id),
        "jti": uuid.uuid4().hex,
        "iat": issued,
        "exp": issued + (ttl if ttl is not None else settings.access_token_ttl),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "scope": " ".join(sorted(scopes)),
    }
    if session_id:
        claims["sid"] = session_id
    return jwt.encode(claims, settings.jwt_secret.reveal(), algorithm=ALGORITHM), claims


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience and expiry; AuthError on any failure.

    A client sends the same token with every request until it expires, so a token that
    verified is remembered (by its exact text, with the key and claims it was checked against)
    and only its expiry is checked again: the same bytes under the same HMAC key verify the
    same way every time. Revocation is not cached here; `standing` checks it on every request."""
    try:
        claims = _verified(token, settings.jwt_secret.reveal(), settings.jwt_audience, settings.jwt_issuer)
    except jwt.ExpiredSignatureError as e:
        raise AuthError("access token has expired", code="token_expired") from e
    except jwt.PyJWTError as e:
        raise AuthError("access token is invalid", code="invalid_token") from e
    if claims["exp"] <= time.time():
        raise AuthError("access token has expired", code="token_expired")
    return dict(claims)


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, audience: str, issuer: str) -> dict[str, Any]:
    """The claims of a token that verifies (failures raise, and are not remembered)."""
    return jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                      options={"require": ["sub", "jti", "iat", "exp", "iss", "aud"]})


def revoke_jti(settings: Settings, client: redis.Redis, jti: str, expires_at: int) -> None:
    """Refuse this token id until it would have expired anyway."""
    ttl = max(1, int(expires_at - time.time()))
    client.set(settings.redis_key("revoked", jti), "1", ex=ttl)


def revoke_session(settings: Settings, client: redis.Redis, session_id: str, ttl: int | None = None) -> None:
    """Refuse every access token of this refresh family for as long as one can live."""
    client.set(settings.redis_key("revoked-session", session_id), "1",
               ex=max(1, ttl if ttl is not None else settings.access_token_ttl))


def revocation_keys(settings: Settings, jti: str, session_id: str = "") -> list[str]:
    """The Redis keys whose presence revokes the token `jti` (of the login session `session_id`)."""
    keys = [settings.redis_key("revoked", jti)]
    if session_id:
        keys.append(settings.redis_key("revoked-session", session_id))
    return keys


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    return Principal(
        user_id=claims["sub"],
        scopes=frozenset(str(claims.get("scope", "")).split()),
        jti=claims["jti"],
        expires_at=int(claims["exp"]),
        session_id=str(claims.get("sid", "")),
    )

