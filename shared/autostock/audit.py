"""The audit log: an append-only record of security-relevant events.

Rows are written inside the transaction of the change they describe, so an event is recorded
exactly when its change commits. The table refuses UPDATE and DELETE (grants and a trigger).
"""

from __future__ import annotations

import enum
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from autostock import db


class Event(str, enum.Enum):
    REGISTERED = "user.registered"
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_LOCKED = "auth.login_locked"
    LOGOUT = "auth.logout"
    REFRESH_REUSED = "auth.refresh_reused"
    PASSWORD_CHANGED = "user.password_changed"
    TOTP_ENABLED = "2fa.enabled"
    TOTP_DISABLED = "2fa.disabled"
    RECOVERY_CODE_USED = "2fa.recovery_code_used"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_UPDATED = "account.updated"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_DELETED = "account.deleted"
    PERMISSIONS_CHANGED = "user.permissions_changed"
    SETTINGS_CHANGED = "user.settings_changed"
    KEYS_ROTATED = "platform.keys_rotated"


def record(conn: psycopg.Connection, event: Event, user_id: str | None, *,
           actor_id: str | None = None, ip: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction. `details` must hold no secret."""
    conn.execute(
        "INSERT INTO audit_log (user_id, actor_id, event, ip, details) VALUES (%s, %s, %s, %s, %s)",
        (user_id, actor_id or user_id, event.value, ip, Jsonb(details or {})),
    )


def record_alone(pool: ConnectionPool, event: Event, user_id: str | None, **kwargs: Any) -> None:
    """Append one event in its own (service) transaction: for failures, whose caller rolls back."""
    with db.service(pool) as conn:
        record(conn, event, user_id, **kwargs)


def read(pool: ConnectionPool, *, user_id: str | None = None, event: str | None = None,
         limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first, optionally for one user or one event; `before_id` pages backwards."""
    clauses, args = ["true"], []
    if user_id:
        clauses.append("user_id = %s")
        args.append(user_id)
    if event:
        clauses.append("event = %s")
        args.append(event)
    if before_id:
        clauses.append("id < %s")
        args.append(before_id)
    where = " AND ".join(clauses)
    with db.service(pool) as conn:
        return conn.execute(
            "SELECT id, at, user_id, actor_id, event, ip, details FROM audit_log WHERE " + where  # noqa: S608 - fixed clauses
            + " ORDER BY id DESC LIMIT %s", [*args, max(1, min(limit, 500))]).fetchall()
