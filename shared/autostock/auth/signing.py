"""HMAC request signing for API keys that carry a signing secret.

The client sends `X-Timestamp` (Unix seconds), `X-Nonce` (8-64 characters, new per request)
and `X-Signature`: hex HMAC-SHA256 over `timestamp \\n method \\n path \\n nonce \\n body`.
A request more than five minutes off, or reusing a nonce within that window, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import redis

from autostock.config import Settings
from autostock.errors import AuthError

WINDOW = 300
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def signature(secret: str, timestamp: str, method: str, path: str, nonce: str, body: bytes) -> str:
    message = "\n".join([timestamp, method.upper(), path, nonce]).encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(settings: Settings, client: redis.Redis, secret: str, event: Any, now: float | None = None) -> None:
    """Raise AuthError unless `event` is signed with `secret`, fresh and not replayed."""
    headers = event.headers
    timestamp, nonce, given = headers.get("x-timestamp"), headers.get("x-nonce"), headers.get("x-signature")
    if not (timestamp and nonce and given):
        raise AuthError("this API key requires signed requests (X-Timestamp, X-Nonce, X-Signature)",
                        code="signature_required")
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(now - int(timestamp)) > WINDOW:
        raise AuthError("request timestamp is outside the five-minute window", code="signature_expired")
    if not 8 <= len(nonce) <= 64:
        raise AuthError("X-Nonce must be 8-64 characters", code="invalid_signature")
    body = event.body if isinstance(event.body, bytes) else (event.body or "").encode()
    expected = signature(secret, timestamp, event.method, event.path, nonce, body)
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise AuthError("request signature does not match", code="invalid_signature")
    if not client.set(settings.redis_key("nonce", nonce), "1", nx=True, ex=2 * WINDOW):
        raise AuthError("this nonce was already used", code="nonce_reused")
