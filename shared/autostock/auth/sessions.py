"""Login sessions: password (+ TOTP) login, refresh-token rotation, logout.

A login starts a refresh-token *family*. Refresh tokens are opaque random strings stored as
SHA-256; each use rotates the token. Presenting a rotated token again means it was copied:
the whole family is revoked (its access tokens too, through the `sid` claim) and the event is
audited (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any, NoReturn

import psycopg

from autostock import audit, db, ratelimit
from autostock.auth import lockout, passwords, standing, twofactor
from autostock.auth.tokens import Principal, issue_access_token, revoke_jti, revoke_session
from autostock.config import Settings
from autostock.errors import AuthError, Forbidden
from autostock.resources import Resources

_USER = ("id, username, password_hash, is_active, is_admin, can_paper_trade, can_real_trade,"
         " api_calls_limit, ip_allowlist, totp_enabled, totp_secret, totp_last_step")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(conn: psycopg.Connection, settings: Settings, user: dict[str, Any],
           family_id: str | None = None) -> dict[str, Any]:
    family_id = family_id or str(uuid.uuid4())
    refresh = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)"
                 " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
                 (user["id"], family_id, _hash(refresh), settings.refresh_token_ttl))
    scopes = standing.scopes_for(user)
    access, _ = issue_access_token(settings, str(user["id"]), scopes, session_id=family_id)
    return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
            "expires_in": settings.access_token_ttl, "scope": " ".join(sorted(scopes))}


def login(resources: Resources, *, username: str, password: str, ip: str, totp_code: str | None = None,
          recovery_code: str | None = None) -> dict[str, Any]:
    """Tokens for a correct username-or-email + password (+ second factor when 2FA is on)."""
    settings, client = resources.settings, resources.redis
    ratelimit.admit_ip(settings, client, ip, "login")
    lockout.check(settings, client, username, ip)
    with db.service(resources.pool) as conn:
        user = conn.execute(f"SELECT {_USER} FROM users WHERE lower(username) = lower(%s)"  # noqa: S608
                            " OR lower(email) = lower(%s) ORDER BY lower(username) = lower(%s) DESC LIMIT 1",
                            (username, username, username)).fetchone()
    if user is None:
        passwords.burn_time(password, settings.bcrypt_rounds)
        return _failed(resources, None, username, ip, "unknown_user")
    if not passwords.verify_password(password, user["password_hash"]):
        return _failed(resources, user, username, ip, "wrong_password")
    if not user["is_active"]:
        return _failed(resources, user, username, ip, "inactive")
    with db.service(resources.pool) as conn:
        passed = None
        if user["totp_enabled"]:
            if not (totp_code or recovery_code):
                raise AuthError("a two-factor code is required", code="totp_required")
            passed = twofactor.second_factor(conn, settings, user, code=totp_code, recovery_code=recovery_code)
    if user["totp_enabled"] and not passed:
        return _failed(resources, user, username, ip, "wrong_totp")
    lockout.clear(settings, client, username)
    with db.service(resources.pool) as conn:
        tokens = _issue(conn, settings, user)
        conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user["id"],))
        if passed == "recovery_code":
            audit.record(conn, audit.Event.RECOVERY_CODE_USED, str(user["id"]), ip=ip)
        audit.record(conn, audit.Event.LOGIN, str(user["id"]), ip=ip, details={"second_factor": passed})
    standing.forget(resources, str(user["id"]))  # last_login_at is part of the cached profile
    return tokens


def _failed(resources: Resources, user: dict[str, Any] | None, username: str, ip: str, reason: str) -> NoReturn:
    wait = lockout.fail(resources.settings, resources.redis, username, ip)
    user_id = str(user["id"]) if user else None
    audit.record_alone(resources.pool, audit.Event.LOGIN_FAILED, user_id, ip=ip,
                       details={"reason": reason, "username": username[:100], "wait": wait})
    # One message for every reason, so a login never tells which part was wrong.
    raise AuthError("username or password is wrong", code="invalid_credentials")


def refresh(resources: Resources, refresh_token: str, *, ip: str) -> dict[str, Any]:
    """Rotate a refresh token: new access + refresh tokens; reuse of an old one kills the family."""
    settings = resources.settings
    ratelimit.admit_ip(settings, resources.redis, ip, "refresh")
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens"
                           " WHERE token_hash = %s FOR UPDATE", (_hash(refresh_token),)).fetchone()
        problem = _refresh_problem(row)
        if problem == "reused":
            _revoke_family(conn, resources, str(row["family_id"]))
            audit.record(conn, audit.Event.REFRESH_REUSED, str(row["user_id"]), ip=ip,
                         details={"family_id": str(row["family_id"])})
        elif problem is None:
            user = conn.execute(f"SELECT {_USER} FROM users WHERE id = %s", (row["user_id"],)).fetchone()  # noqa: S608
            if user["is_active"]:
                conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = %s", (row["id"],))
                return _issue(conn, settings, user, str(row["family_id"]))
            problem = "inactive"
    raise AuthError(_REFRESH_MESSAGES[problem],
                    code="refresh_reused" if problem == "reused" else "invalid_refresh_token")


_REFRESH_MESSAGES = {
    "unknown": "refresh token is invalid",
    "expired": "refresh token has expired; log in again",
    "revoked": "refresh token has been revoked; log in again",
    "reused": "refresh token was already used; every session of this login is now revoked",
    "inactive": "this user is disabled",
}


def _refresh_problem(row: dict[str, Any] | None) -> str | None:
    if row is None:
        return "unknown"
    if row["revoked_at"]:
        return "revoked"
    if row["used_at"]:
        return "reused"
    if row["expires_at"] < dt.datetime.now(dt.UTC):
        return "expired"
    return None


def _revoke_family(conn: psycopg.Connection, resources: Resources, family_id: str) -> None:
    conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL",
                 (family_id,))
    revoke_session(resources.settings, resources.redis, family_id)


def logout(resources: Resources, principal: Principal, refresh_token: str | None = None, *,
           ip: str | None = None) -> dict[str, Any]:
    """End this login: its access token at once, its refresh family (and `refresh_token`'s)."""
    if principal.via != "jwt":
        raise Forbidden("API keys are revoked under /api/v1/users/api-keys", code="session_required")
    revoke_jti(resources.settings, resources.redis, principal.jti, principal.expires_at)
    families = {principal.session_id} - {""}
    with db.tenant(resources.pool, principal.user_id) as conn:
        if refresh_token:
            row = conn.execute("SELECT family_id FROM refresh_tokens WHERE token_hash = %s AND user_id = %s",
                               (_hash(refresh_token), principal.user_id)).fetchone()
            if row:
                families.add(str(row["family_id"]))
        for family in families:
            _revoke_family(conn, resources, family)
        audit.record(conn, audit.Event.LOGOUT, principal.user_id, ip=ip)
    return {"ok": True}
