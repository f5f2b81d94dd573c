"""Personal API keys for programmatic clients and webhooks.

A key reads `ask_<prefix>_<secret>`: the prefix finds the row, the secret is compared with its
SHA-256 (32 random bytes need no slow hash). The key is shown once, at creation. A key may be
given a signing secret (also shown once, stored encrypted): then every state-changing call
made with it must carry an HMAC signature (see `signing`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from autostock import audit, crypto, db
from autostock.accounts import is_uuid
from autostock.errors import AuthError, NotFound, ValidationError
from autostock.resources import Resources

SCOPES = ("read", "trade")
MAX_KEYS = 20
_VIEW = ("id, name, prefix, scopes, signing_secret IS NOT NULL AS signed, last_used_at, expires_at, revoked_at,"
         " created_at")
TOUCH_EVERY = 60  # seconds between last_used_at writes for one key


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["id"] = str(out["id"])
    out["scopes"] = list(out["scopes"])
    for key in ("last_used_at", "expires_at", "revoked_at", "created_at"):
        if isinstance(out.get(key), dt.datetime):
            out[key] = out[key].isoformat()
    return out


def create(resources: Resources, user_id: str, *, name: str, scopes: list[str], signed: bool = False,
           expires_in_days: int | None = None, ip: str | None = None) -> dict[str, Any]:
    """Make a key; the answer holds `key` (and `signing_secret` when signed) this one time only."""
    if not name.strip() or len(name) > 100:
        raise ValidationError("name must be 1-100 characters", details={"fields": {"name": "length"}})
    if not scopes or any(s not in SCOPES for s in scopes):
        raise ValidationError("scopes must be a non-empty list of read, trade",
                              details={"fields": {"scopes": "unknown scope"}})
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise ValidationError("expires_in_days must be between 1 and 3650")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    signing_secret = secrets.token_urlsafe(32) if signed else None
    with db.tenant(resources.pool, user_id) as conn:
        count = conn.execute("SELECT count(*) AS n FROM api_keys WHERE user_id = %s AND revoked_at IS NULL",
                             (user_id,)).fetchone()["n"]
        if count >= MAX_KEYS:
            raise ValidationError(f"at most {MAX_KEYS} active API keys; revoke one first", code="too_many_keys")
        row = conn.execute(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, signing_secret, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(days => %s)) RETURNING " + _VIEW,
            (user_id, name.strip(), prefix, _hash(secret), sorted(set(scopes)),
             crypto.encrypt(resources.settings.encryption_keys, signing_secret) if signing_secret else None,
             expires_in_days)).fetchone()
        audit.record(conn, audit.Event.API_KEY_CREATED, user_id, ip=ip,
                     details={"key_id": str(row["id"]), "scopes": sorted(set(scopes)), "signed": signed})
    out = {**_view(row), "key": f"ask_{prefix}_{secret}"}
    if signing_secret:
        out["signing_secret"] = signing_secret
    return out


def list_keys(resources: Resources, user_id: str) -> list[dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(f"SELECT {_VIEW} FROM api_keys WHERE user_id = %s AND revoked_at IS NULL"  # noqa: S608
                            " ORDER BY created_at", (user_id,)).fetchall()
    return [_view(r) for r in rows]


def revoke(resources: Resources, user_id: str, key_id: str, *, ip: str | None = None) -> None:
    if not is_uuid(key_id):
        raise NotFound("no such API key", code="api_key_not_found")
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s AND user_id = %s"
                           " AND revoked_at IS NULL RETURNING id", (key_id, user_id)).fetchone()
        if row is None:
            raise NotFound("no such API key", code="api_key_not_found")
        audit.record(conn, audit.Event.API_KEY_REVOKED, user_id, ip=ip, details={"key_id": key_id})


def verify(resources: Resources, raw_key: str) -> dict[str, Any]:
    """The live key row for `raw_key` (with its decrypted signing secret), or AuthError."""
    head, _, rest = raw_key.strip().partition("_")
    prefix, _, secret = rest.partition("_")
    if head != "ask" or not prefix or not secret:
        raise AuthError("API key is invalid", code="invalid_api_key")
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT id, user_id, key_hash, scopes, signing_secret, expires_at, revoked_at"
                           " FROM api_keys WHERE prefix = %s", (prefix,)).fetchone()
    if row is None or not secrets.compare_digest(row["key_hash"], _hash(secret)):
        raise AuthError("API key is invalid", code="invalid_api_key")
    if row["revoked_at"] or (row["expires_at"] and row["expires_at"] < dt.datetime.now(dt.UTC)):
        raise AuthError("API key has been revoked or has expired", code="api_key_revoked")
    if row["signing_secret"]:
        row["signing_secret"] = crypto.decrypt(resources.settings.encryption_keys, row["signing_secret"])
    _touch(resources, str(row["id"]))
    return row


def _touch(resources: Resources, key_id: str) -> None:
    # One write a minute per key at most: last-used is for humans, not an access log.
    if resources.redis.set(resources.settings.redis_key("apikey-touch", key_id), "1", nx=True, ex=TOUCH_EVERY):
        with db.service(resources.pool) as conn:
            conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key_id,))
