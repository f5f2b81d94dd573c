"""The signature on outbound webhooks, and its check (the same recipe receivers use).

Recipe (docs/notifications.md): `X-AutoStock-Timestamp: <unix seconds>` and
`X-AutoStock-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-AutoStock-Timestamp"
SIGNATURE_HEADER = "X-AutoStock-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, ts, body)}


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, *,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> str | None:
    """None when the signature is valid and fresh; otherwise the reason it is not."""
    if not timestamp or not given:
        return "missing_signature"
    try:
        ts = int(timestamp)
    except ValueError:
        return "bad_timestamp"
    current = now if now is not None else time.time()
    if abs(current - ts) > tolerance:
        return "expired_signature"
    if not hmac.compare_digest(signature(secret, ts, body), given):
        return "bad_signature"
    return None
