"""Users: registration, profile, settings, and the permissions only an admin changes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from autostock import accounts, audit, db, ratelimit
from autostock.auth import passwords, standing
from autostock.errors import Conflict, NotFound, ValidationError
from autostock.resources import Resources

LANGUAGES = ("ko", "en")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
_PROFILE = ("id, email, username, display_name, is_active, is_verified, is_admin, can_paper_trade,"
            " can_real_trade, daily_trade_limit, api_calls_limit, totp_enabled, last_login_at, created_at")
_SETTINGS = "language, timezone, preferences, ip_allowlist"
PERMISSIONS = {"is_active": bool, "is_verified": bool, "is_admin": bool, "can_paper_trade": bool,
               "can_real_trade": bool, "daily_trade_limit": int, "api_calls_limit": int}


def register(resources: Resources, *, email: str, username: str, password: str, ip: str) -> dict[str, Any]:
    """A new user with the default permissions and a paper account; 409 on a taken name or email."""
    ratelimit.admit_ip(resources.settings, resources.redis, ip, "register")
    email, username = email.strip(), username.strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise ValidationError("email is not a valid address", details={"fields": {"email": "malformed"}})
    if not _USERNAME.match(username):
        raise ValidationError("username must be 3-32 letters, digits, '_', '.' or '-'",
                              details={"fields": {"username": "malformed"}})
    passwords.check_strength(password, username=username, email=email)
    hashed = passwords.hash_password(password, resources.settings.bcrypt_rounds)
    try:
        with db.service(resources.pool) as conn:
            row = conn.execute(f"INSERT INTO users (email, username, password_hash) VALUES (%s, %s, %s)"
                               f" RETURNING {_PROFILE}", (email, username, hashed)).fetchone()
            accounts.create_paper_account(conn, resources.settings, str(row["id"]))
            audit.record(conn, audit.Event.REGISTERED, str(row["id"]), ip=ip)
    except psycopg.errors.UniqueViolation as e:
        raise Conflict("that username or email is already registered", code="user_exists") from e
    return standing.public_view(row)


def profile(resources: Resources, user_id: str) -> dict[str, Any]:
    """Profile, permissions and settings (cached with the user's standing) and today's API calls."""
    found, usage = standing.profile(resources, user_id)
    if found is None:
        raise NotFound("no such user", code="user_not_found")
    return {**found, "api_calls_today": usage}


def update_profile(resources: Resources, user_id: str, *, ip: str | None = None, **changes: Any) -> dict[str, Any]:
    """Change display_name and/or email."""
    if "display_name" in changes and len(changes["display_name"]) > 100:
        raise ValidationError("display_name is at most 100 characters")
    if "email" in changes and not _EMAIL.match(changes["email"].strip()):
        raise ValidationError("email is not a valid address", details={"fields": {"email": "malformed"}})
    _update(resources, user_id, {k: v.strip() for k, v in changes.items()}, ip)
    return profile(resources, user_id)


def settings_of(resources: Resources, user_id: str) -> dict[str, Any]:
    with db.tenant(resources.pool, user_id) as conn:
        return dict(conn.execute(f"SELECT {_SETTINGS} FROM users WHERE id = %s", (user_id,)).fetchone())  # noqa: S608


def update_settings(resources: Resources, user_id: str, *, ip: str | None = None, **changes: Any) -> dict[str, Any]:
    """language (ko/en), timezone, preferences (a small JSON object), ip_allowlist."""
    if "language" in changes and changes["language"] not in LANGUAGES:
        raise ValidationError("language must be ko or en", details={"fields": {"language": "unknown"}})
    if "timezone" in changes and changes["timezone"] not in ("Asia/Seoul", "UTC"):
        raise ValidationError("timezone must be Asia/Seoul or UTC")
    if "ip_allowlist" in changes:
        changes["ip_allowlist"] = standing.check_allowlist(changes["ip_allowlist"])
    if "preferences" in changes:
        if len(str(changes["preferences"])) > 4096:
            raise ValidationError("preferences must stay under 4 KiB")
        changes["preferences"] = Jsonb(changes["preferences"])
    _update(resources, user_id, changes, ip)  # drops the cached standing: applies from the next call
    return settings_of(resources, user_id)


def _update(resources: Resources, user_id: str, changes: dict[str, Any], ip: str | None) -> None:
    if not changes:
        return
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes)
    try:
        with db.tenant(resources.pool, user_id) as conn:
            conn.execute(sql.SQL("UPDATE users SET {}, updated_at = now() WHERE id = %s").format(assignments),
                         [*changes.values(), user_id])
            audit.record(conn, audit.Event.SETTINGS_CHANGED, user_id, ip=ip, details={"fields": sorted(changes)})
    except psycopg.errors.UniqueViolation as e:
        raise Conflict("that email is already registered", code="user_exists") from e
    standing.forget(resources, user_id)


def language(resources: Resources, user_id: str) -> str:
    """The user's language for messages (alerts, notifications): 'ko' unless they chose 'en'."""
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT language FROM users WHERE id = %s", (user_id,)).fetchone()
    return row["language"] if row else "ko"


def change_password(resources: Resources, user_id: str, current: str, new: str, *, ip: str | None = None) -> None:
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute("SELECT username, email, password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    if not passwords.verify_password(current, row["password_hash"]):
        raise ValidationError("current_password is wrong", code="invalid_credentials")
    passwords.check_strength(new, username=row["username"], email=row["email"])
    hashed = passwords.hash_password(new, resources.settings.bcrypt_rounds)
    with db.tenant(resources.pool, user_id) as conn:
        conn.execute("UPDATE users SET password_hash = %s, password_changed_at = now(), updated_at = now()"
                     " WHERE id = %s", (hashed, user_id))
        audit.record(conn, audit.Event.PASSWORD_CHANGED, user_id, ip=ip)


# ---- admin (service role; the handler checks the admin scope) ----

def list_users(resources: Resources, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    with db.service(resources.pool) as conn:
        rows = conn.execute(f"SELECT {_PROFILE} FROM users ORDER BY created_at LIMIT %s OFFSET %s",  # noqa: S608
                            (max(1, min(limit, 500)), max(0, offset))).fetchall()
    return [standing.public_view(r) for r in rows]


def set_permissions(resources: Resources, admin_id: str, user_id: str, *, ip: str | None = None,
                    **changes: Any) -> dict[str, Any]:
    """Change permissions (is_active, can_real_trade, limits, ...); effective at the user's next call."""
    try:
        uuid.UUID(user_id)
    except ValueError as e:
        raise NotFound("no such user", code="user_not_found") from e
    for name, value in changes.items():
        if PERMISSIONS.get(name) is None:
            raise ValidationError(f"{name} is not a permission")
        if PERMISSIONS[name] is int and value < 0:
            raise ValidationError(f"{name} must be zero or more")
    if user_id == admin_id and changes.get("is_admin") is False:
        raise ValidationError("an admin cannot remove their own admin permission", code="self_demotion")
    with db.service(resources.pool) as conn:
        before = conn.execute(f"SELECT {_PROFILE} FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone()  # noqa: S608
        if before is None:
            raise NotFound("no such user", code="user_not_found")
        if changes:
            assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes)
            conn.execute(sql.SQL("UPDATE users SET {}, updated_at = now() WHERE id = %s").format(assignments),
                         [*changes.values(), user_id])
        audit.record(conn, audit.Event.PERMISSIONS_CHANGED, user_id, actor_id=admin_id, ip=ip,
                     details={k: {"from": before[k], "to": v} for k, v in changes.items()})
        after = conn.execute(f"SELECT {_PROFILE} FROM users WHERE id = %s", (user_id,)).fetchone()  # noqa: S608
    standing.forget(resources, user_id)
    return standing.public_view(after)


def create_admin(resources: Resources, *, email: str, username: str, password: str) -> dict[str, Any]:
    """Register `username` (or find it) and make it an admin (operator CLI)."""
    try:
        user = register(resources, email=email, username=username, password=password, ip="cli")
    except Conflict:
        with db.service(resources.pool) as conn:
            user = conn.execute("SELECT id FROM users WHERE lower(username) = lower(%s)", (username,)).fetchone()
        if user is None:
            raise
    return set_permissions(resources, str(user["id"]), str(user["id"]), is_admin=True, is_verified=True, ip="cli")
