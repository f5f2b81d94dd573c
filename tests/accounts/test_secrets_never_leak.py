"""Broker secrets, passwords and keys never reach a response or a log line."""

import io
import json
import logging

import pyotp

from autostock.logs import JsonFormatter
from tests.helpers import invoke

SECRETS = {"account_number": "73019284-01", "app_key": "PSleakcheckAPPKEY77",
           "app_secret": "SECRETleakcheck-9f8e7d6c5b4a",
           "account_password": "pw-4321-secret"}


class _Capture(logging.Handler):
    """Every record, formatted as the platform formats it (JSON with all extras)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.stream = io.StringIO()
        self.setFormatter(JsonFormatter())

    def emit(self, record):
        self.stream.write(self.format(record) + "\n")


def test_secrets_are_absent_from_every_response_and_log_line(resources, registered, login):
    capture, root = _Capture(), logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    replies = []
    try:
        user = registered()
        tokens = login(user).json
        token = tokens["access_token"]
        created = invoke("accounts", "POST", "/api/v1/trading/accounts", {"broker": "kis", **SECRETS}, token=token)
        assert created.status == 201
        account = created.json["id"]
        replies += [created,
                    invoke("accounts", "GET", "/api/v1/trading/accounts", token=token),
                    invoke("accounts", "GET", f"/api/v1/trading/accounts/{account}", token=token),
                    invoke("accounts", "PATCH", f"/api/v1/trading/accounts/{account}", {"max_daily_trades": 3},
                           token=token),
                    invoke("accounts", "POST", f"/api/v1/trading/accounts/{account}/test", token=token),
                    invoke("accounts", "POST", "/api/v1/trading/accounts", {"broker": "kis", **SECRETS,
                                                                            "app_secret": 5}, token=token),
                    invoke("auth", "GET", "/api/v1/auth/me", token=token),
                    invoke("accounts", "POST", f"/api/v1/trading/accounts/{account}/disable", token=token)]
        setup = invoke("auth", "POST", "/api/v1/auth/2fa/setup", {}, token=token)
        totp_secret = setup.json["secret"]
        replies.append(invoke("auth", "POST", "/api/v1/auth/2fa/enable", {"code": pyotp.TOTP(totp_secret).now()},
                              token=token))
        replies.append(invoke("auth", "GET", "/api/v1/users/profile", token=token))
        invoke("auth", "POST", "/api/v1/auth/login",
               {"username": user["username"], "password": "wrong-" + user["password"]})
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
    text = "\n".join(json.dumps(r.raw, default=str) for r in replies)
    logs = capture.stream.getvalue()
    for name, value in {**SECRETS, "password": user["password"], "totp_secret": totp_secret,
                        "refresh_token": tokens["refresh_token"]}.items():
        assert value not in text, f"{name} appears in a response"
        assert value not in logs, f"{name} appears in a log line"
    assert "******84-01" in text  # the masked form is what callers see
