"""Outbound webhooks a user registers to receive their notifications as signed JSON."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import requests

from autostock import crypto, db
from autostock.contract import require_fields
from autostock.errors import NotFound, ValidationError
from autostock.notify import signing
from autostock.notify.transport import Outcome, classify_http
from autostock.resources import Resources

TIMEOUT = (3.05, 10)
MAX_WEBHOOKS = 5
DISABLE_AFTER_FAILURES = 5
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
_UUID = re.compile(r"^[0-9a-fA-F-]{36}$")


def create(resources: Resources, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Register a webhook; the signing secret is shown in this answer only."""
    clean = require_fields(data, {"url": str})
    if not _URL.match(clean["url"]) or len(clean["url"]) > 500:
        raise ValidationError("url must be an http(s) URL", details={"field": "url"})
    secret = "whsec_" + secrets.token_urlsafe(32)
    with db.tenant(resources.pool, user_id) as conn:
        n = conn.execute("SELECT count(*) AS n FROM outbound_webhooks WHERE user_id = %s", (user_id,)).fetchone()["n"]
        if n >= MAX_WEBHOOKS:
            raise ValidationError(f"at most {MAX_WEBHOOKS} webhooks per user", code="too_many_webhooks")
        row = conn.execute(
            "INSERT INTO outbound_webhooks (user_id, url, secret_enc) VALUES (%s, %s, %s)"
            " RETURNING id, url, is_active, created_at",
            (user_id, clean["url"], crypto.encrypt(resources.settings.encryption_keys, secret))).fetchone()
    return {**_public(row), "secret": secret}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "secret_enc"}
    out["id"] = str(out["id"])
    if out.get("created_at"):
        out["created_at"] = out["created_at"].isoformat()
    return out


def list_webhooks(resources: Resources, user_id: str) -> list[dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT id, url, is_active, consecutive_failures, disabled_reason, created_at"
            " FROM outbound_webhooks WHERE user_id = %s ORDER BY created_at", (user_id,)).fetchall()
    return [_public(r) for r in rows]


def delete(resources: Resources, user_id: str, webhook_id: str) -> None:
    if not _UUID.match(webhook_id):
        raise NotFound("no such webhook", code="webhook_not_found")
    with db.tenant(resources.pool, user_id) as conn:
        if not conn.execute("DELETE FROM outbound_webhooks WHERE id = %s AND user_id = %s",
                            (webhook_id, user_id)).rowcount:
            raise NotFound("no such webhook", code="webhook_not_found")


def deliveries(resources: Resources, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The delivery log: every external send with its status code and attempts."""
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT d.id, d.notification_id, d.channel, d.target, d.status, d.attempts, d.last_status_code,"
            " d.last_error, d.sent_at, d.next_attempt_at FROM deliveries d WHERE d.user_id = %s"
            " ORDER BY d.id DESC LIMIT %s", (user_id, limit)).fetchall()
    return [{**r, "notification_id": str(r["notification_id"]),
             "sent_at": r["sent_at"].isoformat() if r["sent_at"] else None,
             "next_attempt_at": r["next_attempt_at"].isoformat()} for r in rows]


def send(url: str, secret: str, payload: dict[str, Any], delivery_id: str) -> Outcome:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "AutoStock-Webhook/1",
               "X-AutoStock-Delivery": delivery_id, **signing.signed_headers(secret, body, time.time())}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as e:
        return Outcome.temporary(f"unreachable ({type(e).__name__})")
    return classify_http(response.status_code, "")
