"""Kiwoom REST client (docs/brokers.md §3): JSON token (au10001) with `secretkey`, `api-id`
routing, int `return_code` envelopes, `cont-yn`/`next-key` paging, pacing per app key.

Kiwoom's numeric limits are unconfirmed (§3.8; third-party docs say 10/s or 20/s), so the
default rate is a conservative 5/s and callers may set their own; an explicit 1700 answer is
retried after back-off. Tokens last about 24 h and are refreshed 10 minutes early, as the
official client does.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import redis as redis_lib

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.token_cache import IssuedToken
from autostock.brokers.tr_client import TrClient
from autostock.config import Settings
from autostock.errors import AuthError, BrokerUnavailable, RateLimited

KST = dt.timezone(dt.timedelta(hours=9))
_TOKEN_CODES = {8003, 8005, 8006, 8009, 8015, 8016}
_AUTH_CODES = {8001, 8002, 8011, 8012, 8030, 8031, 8010, 8040, 8050, 8103}
_RC = re.compile(r"RC\d{4}")


def return_code(data: dict[str, Any]) -> int:
    try:
        return int(data.get("return_code", -1))
    except (TypeError, ValueError):
        return -1


class KiwoomClient(TrClient):
    broker = "kiwoom"
    selector = "api-id"

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 rate: float = 5.0, **options: Any) -> None:
        url = settings.kiwoom_paper_url if credentials.paper else settings.kiwoom_real_url
        options.setdefault("token_issue_interval", 1.0)
        super().__init__(settings, credentials, redis, base_url=url, rate=rate, **options)
        self.tokens.refresh_before = 600.0

    def issue_token(self) -> IssuedToken:
        body = {"grant_type": "client_credentials", "appkey": self.credentials.app_key,
                "secretkey": self.credentials.app_secret}
        data = self.post_plain("/oauth2/token", body=body,
                               headers={"content-type": "application/json;charset=UTF-8", "api-id": "au10001"})
        code = return_code(data)
        if code == 0 and data.get("token"):
            return IssuedToken(str(data["token"]), _expiry(str(data.get("expires_dt", ""))))
        details = self.details("au10001", str(code), str(data.get("return_msg", "")))
        if code == 1700:
            raise RateLimited("Kiwoom refused to issue a token now", details=details)
        raise AuthError("Kiwoom refused the app key", details=details)

    def revoke(self) -> None:
        token = self.tokens.peek()
        if token is None:
            return
        body = {"appkey": self.credentials.app_key, "secretkey": self.credentials.app_secret, "token": token.token}
        data = self.post_plain("/oauth2/revoke", body=body,
                               headers={"content-type": "application/json;charset=UTF-8", "api-id": "au10002"})
        if return_code(data) != 0:
            raise BrokerUnavailable("Kiwoom did not revoke the token",
                                    details=self.details("au10002", str(return_code(data)),
                                                         str(data.get("return_msg"))))
        self.tokens.invalidate(token.token)

    def verdict(self, data: dict[str, Any]) -> tuple[str, str, str]:
        code, message = return_code(data), str(data.get("return_msg", ""))
        rc = _RC.search(message)
        shown = rc.group(0) if rc else str(code)       # business rejections carry an RC code in the text
        if code == 0:
            return "ok", "0", message
        if code in _TOKEN_CODES:
            return "token", shown, message
        if code == 1700:
            return "rate_limit", shown, message
        if code in _AUTH_CODES:
            return "auth", shown, message
        return "reject", shown, message

    def details(self, tr: str, code: str, message: str) -> dict[str, Any]:
        return {**super().details(tr, code, message), "api_id": tr}

    def pages(self, path: str, api_id: str, body: dict[str, Any], rows_key: str, *, max_pages: int = 50,
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every row of `rows_key` across pages (response `cont-yn: Y` → resend with `cont-yn: Y`
        and the `next-key`), and the first page's body."""
        rows: list[dict[str, Any]] = []
        first: dict[str, Any] | None = None
        headers: dict[str, str] = {}
        for _ in range(max_pages):
            data, answer = self.read(path, api_id, body, headers)
            first = data if first is None else first
            rows.extend(data.get(rows_key) or [])
            if answer.get("cont-yn") != "Y":
                return rows, first
            headers = {"cont-yn": "Y", "next-key": answer.get("next-key", "")}
        raise BrokerUnavailable("Kiwoom paging did not end", details={"api_id": api_id})


def _expiry(expires_dt: str) -> float:
    """`expires_dt` YYYYMMDDHHMMSS in KST → epoch seconds. Unreadable, or already past by our
    clock (the clocks disagree, e.g. a simulator on a manual clock): a day from now, the
    lifetime Kiwoom gives (obs); an early 8005 then re-issues it anyway."""
    try:
        at = dt.datetime.strptime(expires_dt, "%Y%m%d%H%M%S").replace(tzinfo=KST).timestamp()
    except ValueError:
        at = 0.0
    return at if at > time.time() else time.time() + 86_400
