"""Telegram Bot API: sendMessage, and linking a chat by a one-time code sent to the bot.

The bot token is part of every URL, so no URL, request or exception text from `requests` is
ever logged or stored; only the exception's class name is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from typing import Any

import requests

from autostock import db
from autostock.config import Settings
from autostock.notify.transport import Outcome, classify_http
from autostock.resources import Resources

log = logging.getLogger("autostock.notify.telegram")

TIMEOUT = (3.05, 10)
LINK_CODE_TTL = dt.timedelta(minutes=15)


def enabled(settings: Settings) -> bool:
    return bool(settings.telegram_bot_token)


def _url(settings: Settings, method: str) -> str:
    return f"{settings.telegram_api_base.rstrip('/')}/bot{settings.telegram_bot_token.reveal()}/{method}"


def send_message(settings: Settings, chat_id: int, text: str) -> Outcome:
    if not enabled(settings):
        return Outcome.permanent("telegram is not configured (TELEGRAM_BOT_TOKEN)")
    try:
        response = requests.post(_url(settings, "sendMessage"), timeout=TIMEOUT,
                                 json={"chat_id": chat_id, "text": text, "disable_web_page_preview": True})
    except requests.RequestException as e:
        return Outcome.temporary(f"telegram unreachable ({type(e).__name__})")
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        data = {}
    description = str(data.get("description", ""))[:200]
    if response.status_code == 429:
        retry_after = (data.get("parameters") or {}).get("retry_after")
        return Outcome.temporary(description or "rate limited", 429,
                                 int(retry_after) if isinstance(retry_after, int) else None)
    return classify_http(response.status_code, description)


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def start_link(resources: Resources, user_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A one-time code the user sends to the bot as `/start <code>`."""
    now = now or dt.datetime.now(dt.UTC)
    code = secrets.token_hex(4).upper()
    with db.tenant(resources.pool, user_id) as conn:
        conn.execute(
            "INSERT INTO notification_settings (user_id, telegram_link_code_hash, telegram_link_expires_at)"
            " VALUES (%s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET telegram_link_code_hash ="
            " excluded.telegram_link_code_hash, telegram_link_expires_at = excluded.telegram_link_expires_at,"
            " updated_at = now()", (user_id, _hash(code), now + LINK_CODE_TTL))
    return {"code": code, "expires_at": (now + LINK_CODE_TTL).isoformat(),
            "instructions": f"Send '/start {code}' to the platform's Telegram bot."}


def handle_update(resources: Resources, update: dict[str, Any], now: dt.datetime | None = None) -> str | None:
    """Apply one Telegram update; links a chat when it carries a valid `/start <code>`.
    Returns the linked user id, or None."""
    now = now or dt.datetime.now(dt.UTC)
    message = update.get("message") or {}
    text = str(message.get("text") or "")
    chat_id = (message.get("chat") or {}).get("id")
    if not text.startswith("/start ") or not isinstance(chat_id, int):
        return None
    code_hash = _hash(text.split(maxsplit=1)[1])
    with db.service(resources.pool) as conn:
        row = conn.execute(
            "UPDATE notification_settings SET telegram_chat_id = %s, telegram_linked_at = %s,"
            " telegram_link_code_hash = NULL, telegram_link_expires_at = NULL, updated_at = now()"
            " WHERE telegram_link_code_hash = %s AND telegram_link_expires_at > %s RETURNING user_id",
            (chat_id, now, code_hash, now)).fetchone()
    if row is None:
        return None
    send_message(resources.settings, chat_id, "AutoStock: 알림이 연결되었습니다 / notifications linked.")
    return str(row["user_id"])


def poll_updates(resources: Resources) -> int:
    """Read pending bot updates (getUpdates long-poll offset kept in Redis); returns links made.

    A NAS rarely has a public HTTPS address for Telegram's webhook, so the market-clock polls.
    """
    if not enabled(resources.settings):
        return 0
    key = resources.settings.redis_key("telegram", "offset")
    offset = int(resources.redis.get(key) or 0)
    try:
        response = requests.get(_url(resources.settings, "getUpdates"), timeout=TIMEOUT,
                                params={"offset": offset, "timeout": 0, "allowed_updates": '["message"]'})
        updates = response.json().get("result", []) if response.ok else []
    except (requests.RequestException, ValueError) as e:
        log.warning("telegram getUpdates failed", extra={"error": type(e).__name__})
        return 0
    linked = 0
    for update in updates:
        if handle_update(resources, update):
            linked += 1
        resources.redis.set(key, int(update.get("update_id", 0)) + 1)
    return linked
