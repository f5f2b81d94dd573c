"""The in-app inbox and a user's notification settings."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from autostock import db
from autostock.contract import require_fields
from autostock.errors import NotFound, ValidationError
from autostock.notify.messages import LANGUAGES
from autostock.resources import Resources

_UUID = re.compile(r"^[0-9a-fA-F-]{36}$")


def list_notifications(resources: Resources, user_id: str, *, unread_only: bool = False,
                       limit: int | str | None = 50, before: str | None = None) -> dict[str, Any]:
    limit = 50 if limit is None else limit
    if isinstance(limit, str):
        limit = int(limit) if limit.isdigit() else 0
    if not 1 <= limit <= 200:
        raise ValidationError("limit must be within 1..200", details={"field": "limit"})
    if before is not None:
        try:
            dt.datetime.fromisoformat(before)
        except ValueError as e:
            raise ValidationError("before must be an ISO timestamp", details={"field": "before"}) from e
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT id, kind, title, body, payload, read_at, created_at FROM notifications"
            " WHERE user_id = %s AND (NOT %s OR read_at IS NULL)"
            " AND (%s::timestamptz IS NULL OR created_at < %s::timestamptz)"
            " ORDER BY created_at DESC LIMIT %s", (user_id, unread_only, before, before, limit)).fetchall()
        unread = conn.execute("SELECT count(*) AS n FROM notifications WHERE user_id = %s AND read_at IS NULL",
                              (user_id,)).fetchone()["n"]
    items = [{**r, "id": str(r["id"]), "created_at": r["created_at"].isoformat(),
              "read_at": r["read_at"].isoformat() if r["read_at"] else None} for r in rows]
    return {"items": items, "unread": unread,
            "next_before": items[-1]["created_at"] if len(items) == limit else None}


def mark_read(resources: Resources, user_id: str, notification_id: str) -> None:
    if not _UUID.match(notification_id):
        raise NotFound("no such notification", code="notification_not_found")
    with db.tenant(resources.pool, user_id) as conn:
        if not conn.execute("UPDATE notifications SET read_at = coalesce(read_at, now())"
                            " WHERE id = %s AND user_id = %s", (notification_id, user_id)).rowcount:
            raise NotFound("no such notification", code="notification_not_found")


def mark_all_read(resources: Resources, user_id: str) -> int:
    with db.tenant(resources.pool, user_id) as conn:
        return conn.execute("UPDATE notifications SET read_at = now() WHERE user_id = %s AND read_at IS NULL",
                            (user_id,)).rowcount


def get_settings(resources: Resources, user_id: str) -> dict[str, Any]:
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute("SELECT language, telegram_chat_id IS NOT NULL AS telegram_linked, notify_fills"
                           " FROM notification_settings WHERE user_id = %s", (user_id,)).fetchone()
    return row or {"language": "ko", "telegram_linked": False, "notify_fills": True}


def update_settings(resources: Resources, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    clean = require_fields(data, {}, {"language": str, "notify_fills": bool, "unlink_telegram": bool})
    if "language" in clean and clean["language"] not in LANGUAGES:
        raise ValidationError("language must be 'ko' or 'en'", details={"field": "language"})
    with db.tenant(resources.pool, user_id) as conn:
        conn.execute("INSERT INTO notification_settings (user_id) VALUES (%s) ON CONFLICT DO NOTHING", (user_id,))
        if "language" in clean:
            conn.execute("UPDATE notification_settings SET language = %s WHERE user_id = %s",
                         (clean["language"], user_id))
        if "notify_fills" in clean:
            conn.execute("UPDATE notification_settings SET notify_fills = %s WHERE user_id = %s",
                         (clean["notify_fills"], user_id))
        if clean.get("unlink_telegram"):
            conn.execute("UPDATE notification_settings SET telegram_chat_id = NULL, telegram_linked_at = NULL"
                         " WHERE user_id = %s", (user_id,))
    return get_settings(resources, user_id)
