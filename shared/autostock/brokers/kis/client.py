"""KIS REST client: hosts and TR ids per environment, the shared token, pacing, the error
envelope, paging. Knows HTTP and KIS's envelope; knows nothing of our domain types.

- Token: one per app key in Redis for every process (`TokenCache`); KIS issues at most one a
  minute (403 EGW00133) and alerts the user on each issue, so it is reused until near expiry.
  An EGW00123/EGW00121 answer drops the cached token and the call is sent once more: the
  gateway refused it before any work, so that is safe even for an order.
- Pacing: per app key across processes (`Pacer`), 20/s real and 2/s paper (§1.4).
- Reads retry with back-off (`retry_read`); an explicit EGW00201 over-limit answer is retried
  for any call, since the gateway did nothing. A send whose answer is lost raises
  `UnknownOutcome` for orders and is never resent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib
import requests

from autostock.brokers.base import BrokerCredentials, UnknownOutcome
from autostock.brokers.pacing import Pacer
from autostock.brokers.retry import retry_read
from autostock.brokers.token_cache import IssuedToken, TokenCache
from autostock.config import Settings
from autostock.errors import AuthError, BrokerRejected, BrokerUnavailable, RateLimited

RATE_REAL, RATE_PAPER = 20.0, 2.0
_AUTH_CODES = {"EGW00103", "EGW00105", "EGW02004", "EGW02007"}   # bad key / wrong environment
_TOKEN_CODES = {"EGW00121", "EGW00123"}                           # invalid / expired token
_MORE = {"F", "M"}                                                 # response tr_cont: more pages


def tr_id(real_id: str, paper: bool) -> str:
    """Paper TRs swap a leading T, J or C for V (§1.4); quote TRs are the same on both."""
    return "V" + real_id[1:] if paper and real_id[:1] in ("T", "J", "C") else real_id


class _StaleToken(Exception):
    pass


class KisClient:
    """HTTP to one KIS host for one app key; thread-safe (requests.Session per instance)."""

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 session: requests.Session | None = None, timeout: tuple[float, float] = (3.05, 10.0),
                 pace_margin: float = 0.01, token_issue_interval: float = 60.0, read_attempts: int = 3,
                 rate_limit_attempts: int = 4, sleep: Callable[[float], None] = time.sleep) -> None:
        self.credentials = credentials
        self.paper = credentials.paper
        self.base_url = (settings.kis_paper_url if self.paper else settings.kis_real_url).rstrip("/")
        self.timeout = timeout
        self.read_attempts = read_attempts
        self.rate_limit_attempts = rate_limit_attempts
        self._sleep = sleep
        self._http = session or requests.Session()
        app_id = hashlib.sha256(credentials.app_key.encode()).hexdigest()[:16]  # no key material in names
        self.pacer = Pacer(RATE_PAPER if self.paper else RATE_REAL, redis=redis,
                           key=settings.redis_key("kis", "pace", app_id), margin=pace_margin, sleep=sleep)
        self.tokens = TokenCache(redis, settings.redis_key("kis", "token", app_id),
                                 min_issue_interval=token_issue_interval, sleep=sleep)

    # ---- auth ---------------------------------------------------------------------------
    def token(self) -> str:
        return self.tokens.get(self._issue_token)

    def _issue_token(self) -> IssuedToken:
        body = {"grant_type": "client_credentials", "appkey": self.credentials.app_key,
                "appsecret": self.credentials.app_secret}
        data, status = self._post_plain("/oauth2/tokenP", body)
        if status == 403 and data.get("error_code") == "EGW00133":
            raise RateLimited("KIS allows one token a minute", retry_after=60, details=self._details(data, ""))
        if "access_token" not in data:
            raise AuthError("KIS refused the app key", details=self._details(data, ""))
        return IssuedToken(data["access_token"], time.time() + int(data.get("expires_in", 86_400)))

    def approval_key(self) -> str:
        """The websocket approval key (its body names the secret `secretkey`, §1.2)."""
        body = {"grant_type": "client_credentials", "appkey": self.credentials.app_key,
                "secretkey": self.credentials.app_secret}
        data, _ = self._post_plain("/oauth2/Approval", body)
        if "approval_key" not in data:
            raise AuthError("KIS refused the approval-key request", details=self._details(data, ""))
        return data["approval_key"]

    def hashkey(self, body: dict[str, Any]) -> str:
        data, _ = self._post_plain("/uapi/hashkey", body, headers=self._key_headers())
        if "HASH" not in data:
            raise BrokerUnavailable("KIS hashkey failed", details=self._details(data, ""))
        return data["HASH"]

    def _key_headers(self) -> dict[str, str]:
        return {"appkey": self.credentials.app_key, "appsecret": self.credentials.app_secret}

    def _post_plain(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
                    ) -> tuple[dict[str, Any], int]:
        try:
            resp = self._http.post(self.base_url + path, data=json.dumps(body),
                                   headers={"content-type": "application/json; charset=utf-8", **(headers or {})},
                                   timeout=self.timeout)
            return resp.json(), resp.status_code
        except (requests.RequestException, ValueError) as e:
            raise BrokerUnavailable("KIS did not answer", details={"path": path}) from e

    # ---- calls --------------------------------------------------------------------------
    def get(self, path: str, real_tr: str, params: dict[str, str], *, tr_cont: str = ""
            ) -> tuple[dict[str, Any], str]:
        """An idempotent query: (body, response tr_cont), retried on temporary failures."""
        return retry_read(lambda: self._send("GET", path, tr_id(real_tr, self.paper), params, tr_cont, order=False),
                          attempts=self.read_attempts, sleep=self._sleep)

    def get_pages(self, path: str, real_tr: str, params: dict[str, str], key: str, *, max_pages: int = 50
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every row of `key` across pages (tr_cont F/M → next page), and the last page's body."""
        rows: list[dict[str, Any]] = []
        params = {**params, "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
        cont = ""
        for _ in range(max_pages):
            body, more = self.get(path, real_tr, params, tr_cont=cont)
            rows.extend(body.get(key) or [])
            if more not in _MORE:
                return rows, body
            params.update(CTX_AREA_FK100=body.get("ctx_area_fk100", ""), CTX_AREA_NK100=body.get("ctx_area_nk100", ""))
            cont = "N"
        raise BrokerUnavailable("KIS paging did not end", details={"path": path})

    def post_order(self, path: str, real_tr: str, body: dict[str, str], *, hashkey: bool = False) -> dict[str, Any]:
        """An order or a modify/cancel: never resent after it may have reached KIS."""
        extra = {"hashkey": self.hashkey(body)} if hashkey else {}
        return self._send("POST", path, tr_id(real_tr, self.paper), body, "", order=True, extra=extra)[0]

    def _send(self, method: str, path: str, tr: str, payload: dict[str, str], tr_cont: str, *, order: bool,
              extra: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
        for attempt in range(self.rate_limit_attempts):
            try:
                return self._once(method, path, tr, payload, tr_cont, order, extra or {})
            except _StaleToken:
                continue  # refused before any work: safe to send again with the new token
            except RateLimited as e:
                if e.details.get("msg_cd") != "EGW00201" or attempt == self.rate_limit_attempts - 1:
                    raise
                self._sleep(0.1 * 2 ** attempt)  # python-kis waits 0.1 s on EGW00201 (§1.9)
        raise BrokerUnavailable("KIS kept refusing the token", details={"tr_id": tr})

    def _once(self, method: str, path: str, tr: str, payload: dict[str, str], tr_cont: str, order: bool,
              extra: dict[str, str]) -> tuple[dict[str, Any], str]:
        token = self.token()
        headers = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {token}",
                   **self._key_headers(), "tr_id": tr, "custtype": "P", "tr_cont": tr_cont, **extra}
        self.pacer.wait()
        try:
            if method == "GET":
                resp = self._http.get(self.base_url + path, params=payload, headers=headers, timeout=self.timeout)
            else:
                resp = self._http.post(self.base_url + path, data=json.dumps(payload), headers=headers,
                                       timeout=self.timeout)
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as e:
            raise BrokerUnavailable("KIS could not be reached", details={"tr_id": tr}) from e
        except requests.RequestException as e:
            if order and not _never_sent(e):
                raise UnknownOutcome("the order was sent and no answer came back",
                                     details={"tr_id": tr, "symbol": payload.get("PDNO", "")}) from e
            raise BrokerUnavailable("KIS did not answer", details={"tr_id": tr}) from e
        try:
            data = resp.json()
        except ValueError as e:
            if order:
                raise UnknownOutcome("KIS answered an order with something unreadable",
                                     details={"tr_id": tr, "status": resp.status_code}) from e
            raise BrokerUnavailable("KIS answered with something unreadable",
                                    details={"tr_id": tr, "status": resp.status_code}) from e
        return self._check(data, tr, token), resp.headers.get("tr_cont", "")

    def _check(self, data: dict[str, Any], tr: str, token: str) -> dict[str, Any]:
        if str(data.get("rt_cd")) == "0":
            return data
        code = str(data.get("msg_cd", ""))
        details = self._details(data, tr)
        if code in _TOKEN_CODES:
            self.tokens.invalidate(token)
            raise _StaleToken
        if code == "EGW00201":
            raise RateLimited("KIS per-second limit reached", details=details)
        if code in _AUTH_CODES:
            raise AuthError(details["msg1"] or "KIS refused the credentials", details=details)
        if not code and "rt_cd" not in data:
            raise BrokerUnavailable("KIS answered without an envelope", details=details)
        raise BrokerRejected(details["msg1"] or "KIS refused the request", details=details)

    @staticmethod
    def _details(data: dict[str, Any], tr: str) -> dict[str, Any]:
        """KIS's own names (msg_cd/msg1) plus the broker-neutral ones every adapter sets."""
        code = str(data.get("msg_cd") or data.get("error_code") or "")
        message = str(data.get("msg1") or data.get("error_description") or "")
        return {"broker": "kis", "tr_id": tr, "msg_cd": code, "msg1": message,
                "broker_code": code, "broker_message": message}

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def today() -> dt.date:
        return dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()


def _never_sent(e: requests.RequestException) -> bool:
    """True when the request provably never left (connection refused / DNS), so no order exists."""
    text = repr(e)
    return isinstance(e, requests.ConnectionError) and (
        "NewConnectionError" in text or "Failed to resolve" in text or "Connection refused" in text)
