"""Two-factor authentication: TOTP (RFC 6238) with single-use recovery codes.

The TOTP secret is stored MultiFernet-encrypted. A code is accepted one step either side of
now (clock drift) and only for a step later than the last one accepted, so a code that was
seen cannot be replayed. Recovery codes are 50 random bits each, so a SHA-256 hash is enough
(bcrypt guards low-entropy passwords; these are not).
"""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import time
from typing import Any

import psycopg
import pyotp
import qrcode
import qrcode.image.pure

from autostock import audit, crypto, db
from autostock.auth import passwords, standing
from autostock.config import Settings
from autostock.errors import AuthError, Conflict, ValidationError
from autostock.resources import Resources

ISSUER = "AutoStock NAS"
RECOVERY_CODES = 10
STEP = 30


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
    return f"{raw[:5]}-{raw[5:]}"


def setup(resources: Resources, user_id: str) -> dict[str, Any]:
    """Start enrolment: a new secret (stored encrypted, not yet enforced), its otpauth URI and a QR PNG."""
    secret = pyotp.random_base32()
    with db.tenant(resources.pool, user_id) as conn:
        user = conn.execute("SELECT username, totp_enabled FROM users WHERE id = %s", (user_id,)).fetchone()
        if user["totp_enabled"]:
            raise Conflict("two-factor authentication is already on; disable it first", code="totp_enabled")
        conn.execute("UPDATE users SET totp_secret = %s, totp_last_step = 0, updated_at = now() WHERE id = %s",
                     (crypto.encrypt(resources.settings.encryption_keys, secret), user_id))
    uri = pyotp.TOTP(secret).provisioning_uri(name=user["username"], issuer_name=ISSUER)
    image = qrcode.make(uri, image_factory=qrcode.image.pure.PyPNGImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return {"otpauth_uri": uri, "secret": secret,
            "qr_png_base64": base64.b64encode(buffer.getvalue()).decode()}


def _accept_totp(conn: psycopg.Connection, settings: Settings, user: dict[str, Any], code: str,
                 now: float | None = None) -> bool:
    if not user.get("totp_secret") or not code or not code.strip().isdigit():
        return False
    totp = pyotp.TOTP(crypto.decrypt(settings.encryption_keys, user["totp_secret"]))
    current = int((time.time() if now is None else now) // STEP)
    for step in (current - 1, current, current + 1):
        if step > user["totp_last_step"] and secrets.compare_digest(totp.at(step * STEP), code.strip()):
            conn.execute("UPDATE users SET totp_last_step = %s WHERE id = %s", (step, user["id"]))
            return True
    return False


def _use_recovery_code(conn: psycopg.Connection, user_id: str, code: str) -> bool:
    row = conn.execute("UPDATE recovery_codes SET used_at = now() WHERE user_id = %s AND code_hash = %s"
                       " AND used_at IS NULL RETURNING id", (user_id, _hash(code))).fetchone()
    return row is not None


def second_factor(conn: psycopg.Connection, settings: Settings, user: dict[str, Any], *,
                  code: str | None, recovery_code: str | None) -> str | None:
    """Check a login's second factor; returns how it passed ("totp"/"recovery_code") or None."""
    if code and _accept_totp(conn, settings, user, code):
        return "totp"
    if recovery_code and _use_recovery_code(conn, str(user["id"]), recovery_code):
        return "recovery_code"
    return None


def enable(resources: Resources, user_id: str, code: str, *, ip: str | None = None) -> dict[str, Any]:
    """Turn 2FA on once the app shows a valid code; returns the ten recovery codes (shown once)."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    with db.tenant(resources.pool, user_id) as conn:
        user = conn.execute("SELECT id, totp_secret, totp_enabled, totp_last_step FROM users WHERE id = %s",
                            (user_id,)).fetchone()
        if user["totp_enabled"]:
            raise Conflict("two-factor authentication is already on", code="totp_enabled")
        if not user["totp_secret"]:
            raise ValidationError("call 2fa/setup first", code="totp_not_set_up")
        if not _accept_totp(conn, resources.settings, user, code):
            raise ValidationError("the code is not valid; check the device's clock", code="invalid_totp")
        conn.execute("UPDATE users SET totp_enabled = true, updated_at = now() WHERE id = %s", (user_id,))
        conn.execute("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO recovery_codes (user_id, code_hash) VALUES (%s, %s)",
                            [(user_id, _hash(c)) for c in codes])
        audit.record(conn, audit.Event.TOTP_ENABLED, user_id, ip=ip)
    standing.forget(resources, user_id)
    return {"enabled": True, "recovery_codes": codes}


def disable(resources: Resources, user_id: str, password: str, code: str, *, ip: str | None = None) -> dict[str, Any]:
    """Turn 2FA off: needs the password and a current code (or an unused recovery code)."""
    with db.tenant(resources.pool, user_id) as conn:
        user = conn.execute("SELECT id, password_hash, totp_secret, totp_enabled, totp_last_step FROM users"
                            " WHERE id = %s", (user_id,)).fetchone()
        if not user["totp_enabled"]:
            raise Conflict("two-factor authentication is not on", code="totp_not_enabled")
        ok = passwords.verify_password(password, user["password_hash"]) and second_factor(
            conn, resources.settings, user, code=code, recovery_code=code)
    if not ok:
        raise AuthError("password or code is wrong", code="invalid_credentials")
    with db.tenant(resources.pool, user_id) as conn:
        conn.execute("UPDATE users SET totp_enabled = false, totp_secret = NULL, totp_last_step = 0,"
                     " updated_at = now() WHERE id = %s", (user_id,))
        conn.execute("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
        audit.record(conn, audit.Event.TOTP_DISABLED, user_id, ip=ip)
    standing.forget(resources, user_id)
    return {"enabled": False}


def remaining_recovery_codes(resources: Resources, user_id: str) -> int:
    with db.tenant(resources.pool, user_id) as conn:
        return conn.execute("SELECT count(*) AS n FROM recovery_codes WHERE user_id = %s AND used_at IS NULL",
                            (user_id,)).fetchone()["n"]
