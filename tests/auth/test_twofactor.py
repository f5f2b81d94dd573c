"""2FA: enrolment, login with and without the code, recovery codes single-use, disable."""

import base64
import time

import pyotp

from autostock import audit, db
from tests.helpers import invoke


def _enable(token):
    setup = invoke("auth", "POST", "/api/v1/auth/2fa/setup", {}, token=token)
    assert setup.status == 200 and setup.json["otpauth_uri"].startswith("otpauth://totp/")
    assert base64.b64decode(setup.json["qr_png_base64"]).startswith(b"\x89PNG")
    totp = pyotp.TOTP(setup.json["secret"])
    assert invoke("auth", "POST", "/api/v1/auth/2fa/enable", {"code": "000000"}, token=token).status == 400
    enabled = invoke("auth", "POST", "/api/v1/auth/2fa/enable", {"code": totp.now()}, token=token)
    assert enabled.status == 200 and len(set(enabled.json["recovery_codes"])) == 10
    return totp, enabled.json["recovery_codes"]


def test_login_needs_the_code_once_enabled_and_recovery_codes_work_once(resources, registered, login):
    user = registered()
    totp, codes = _enable(login(user).json["access_token"])

    assert login(user, expect=401).error_code == "totp_required"
    assert login(user, expect=401, totp_code="123456").error_code == "invalid_credentials"
    # The enrolment code's step is spent; the next step's code (within the drift window) works once.
    next_code = totp.at(time.time() + 30)
    assert login(user, totp_code=next_code).status == 200
    assert login(user, expect=401, totp_code=next_code).error_code == "invalid_credentials"

    assert login(user, recovery_code=codes[0].upper()).status == 200
    assert login(user, expect=401, recovery_code=codes[0]).error_code == "invalid_credentials"
    assert login(user, recovery_code=codes[1]).status == 200

    events = [e["event"] for e in audit.read(resources.pool, user_id=user["id"])]
    assert "2fa.enabled" in events and events.count("2fa.recovery_code_used") == 2


def test_secret_is_encrypted_at_rest_and_disable_needs_password_and_code(resources, registered, login):
    user = registered()
    token = login(user).json["access_token"]
    setup = invoke("auth", "POST", "/api/v1/auth/2fa/setup", {}, token=token)
    secret = setup.json["secret"]
    with db.service(resources.pool) as conn:
        stored = conn.execute("SELECT totp_secret FROM users WHERE id = %s", (user["id"],)).fetchone()["totp_secret"]
    assert secret not in stored
    totp = pyotp.TOTP(secret)
    invoke("auth", "POST", "/api/v1/auth/2fa/enable", {"code": totp.now()}, token=token)
    assert invoke("auth", "POST", "/api/v1/auth/2fa/setup", {}, token=token).status == 409
    wrong = invoke("auth", "POST", "/api/v1/auth/2fa/disable",
                   {"password": "wrong password!!", "code": totp.at(time.time() + 30)}, token=token)
    assert wrong.status == 401
    off = invoke("auth", "POST", "/api/v1/auth/2fa/disable",
                 {"password": user["password"], "code": totp.at(time.time() + 30)}, token=token)
    assert off.status == 200 and off.json == {"enabled": False}
    assert login(user).status == 200
    assert [e["event"] for e in audit.read(resources.pool, user_id=user["id"], event="2fa.disabled")]
