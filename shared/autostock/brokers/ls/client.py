"""LS REST client (docs/brokers.md §2): form-urlencoded token, `tr_cd` routing, `rsp_cd`
envelopes, `tr_cont`/`tr_cont_key` paging, pacing per app key and per TR.

LS publishes a per-second limit per TR (§2.9); the REST values are unconfirmed, so `TR_RATES`
holds the ones a third-party LS client measured (obs: quotes 3/s, charts 1/s, accounts 2/s,
deposit 1/s, orders 10/s, modify/cancel 3/s) and callers may override them.
"""

from __future__ import annotations

import time
from typing import Any

import redis as redis_lib

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.pacing import Pacer
from autostock.brokers.token_cache import IssuedToken
from autostock.brokers.tr_client import TrClient
from autostock.config import Settings
from autostock.errors import AuthError, BrokerUnavailable, RateLimited

TR_RATES = {"t1102": 3.0, "t1101": 3.0, "t8410": 1.0, "t0424": 2.0, "t0425": 2.0, "CSPAQ12200": 1.0, "CSPBQ00200": 1.0,
            "CSPAT00601": 10.0, "CSPAT00701": 3.0, "CSPAT00801": 3.0}
_TOKEN_CODES = {"IGW00121", "IGW00123"}
_AUTH_CODES = {"IGW00103", "IGW00105"}


class LsClient(TrClient):
    broker = "ls"
    selector = "tr_cd"

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 tr_rates: dict[str, float] | None = None, default_rate: float = 2.0, **options: Any) -> None:
        super().__init__(settings, credentials, redis, base_url=settings.ls_url, rate=default_rate, **options)
        self.tr_rates = {**TR_RATES, **(tr_rates or {})}
        self._redis = redis
        self._pacers: dict[str, Pacer] = {}

    def pace(self, tr: str) -> None:
        """One pacer per TR (LS limits each TR on its own), shared by every process through Redis."""
        pacer = self._pacers.get(tr)
        if pacer is None:
            if tr not in self.tr_rates:
                self.pacer.wait()
                return
            pacer = self._pacers[tr] = Pacer(self.tr_rates[tr], redis=self._redis, key=f"{self.pace_key}:{tr}",
                                             margin=self.pace_margin, sleep=self._sleep)
        pacer.wait()

    def issue_token(self) -> IssuedToken:
        form = {"grant_type": "client_credentials", "appkey": self.credentials.app_key,
                "appsecretkey": self.credentials.app_secret, "scope": "oob"}
        data = self.post_plain("/oauth2/token", data=_urlencode(form),
                               headers={"content-type": "application/x-www-form-urlencoded"})
        if "access_token" not in data:
            code, message = str(data.get("rsp_cd", "")), str(data.get("rsp_msg", ""))
            if code == "IGW00201":
                raise RateLimited("LS refused to issue a token now", details=self.details("token", code, message))
            raise AuthError("LS refused the app key", details=self.details("token", code, message))
        lifetime = int(data.get("expires_in") or data.get("expire_in") or 86_400)  # the doc spells both (§2.2)
        return IssuedToken(data["access_token"], time.time() + lifetime)

    def revoke(self) -> None:
        token = self.tokens.peek()
        if token is None:
            return
        form = {"appkey": self.credentials.app_key, "appsecretkey": self.credentials.app_secret,
                "token_type_hint": "access_token", "token": token.token}
        data = self.post_plain("/oauth2/revoke", data=_urlencode(form),
                               headers={"content-type": "application/x-www-form-urlencoded"})
        if data.get("code") != 200:
            raise BrokerUnavailable("LS did not revoke the token", details=self.details("revoke", "", str(data)))
        self.tokens.invalidate(token.token)

    def verdict(self, data: dict[str, Any]) -> tuple[str, str, str]:
        code, message = str(data.get("rsp_cd", "")), str(data.get("rsp_msg", ""))
        if code in _TOKEN_CODES:
            return "token", code, message
        if code == "IGW00201":
            return "rate_limit", code, message
        if code in _AUTH_CODES:
            return "auth", code, message
        # LS success codes all start with 00 (00000 query, 00040 buy, 00132 modify, 00156 cancel; §2.3)
        return ("ok" if code.startswith("00") else "reject"), code, message

    def pages(self, path: str, tr: str, block: dict[str, Any], cursor: str, rows_key: str, *,
              max_pages: int = 50) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every row of `rows_key` across pages and the first page's summary OutBlock: LS says
        `tr_cont: Y` when more remain; the next call sends `tr_cont: Y`, the key, and the
        OutBlock's `cursor` (cts_*) field copied into the InBlock (§2.3)."""
        rows: list[dict[str, Any]] = []
        first: dict[str, Any] | None = None
        block, headers = dict(block), {"tr_cont": "N", "tr_cont_key": ""}
        for _ in range(max_pages):
            body, answer = self.read(path, tr, {f"{tr}InBlock": block}, headers)
            summary = body.get(f"{tr}OutBlock") or {}
            first = summary if first is None else first
            rows.extend(body.get(rows_key) or [])
            if answer.get("tr_cont") != "Y":
                return rows, first
            block[cursor] = summary.get(cursor) or answer.get("tr_cont_key", "")
            headers = {"tr_cont": "Y", "tr_cont_key": answer.get("tr_cont_key", "")}
        raise BrokerUnavailable("LS paging did not end", details={"tr": tr})


def _urlencode(form: dict[str, str]) -> str:
    from urllib.parse import urlencode
    return urlencode(form)
