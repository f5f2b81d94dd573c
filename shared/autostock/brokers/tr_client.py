"""HTTP for brokers that take every TR as a JSON POST picked by a header (LS `tr_cd`, Kiwoom
`api-id`): the token shared through Redis, pacing per app key, error envelopes → our errors.

A subclass says how to issue a token, which headers a call carries, and how to read the
broker's envelope (`verdict`). The rules (style rule 5, docs/brokers.md §5):
- a token the broker calls invalid/expired is dropped and the call sent once more: the gateway
  refused it before any work, so that is safe even for an order;
- an explicit over-limit answer is retried after back-off for any call (nothing was done);
- reads retry temporary failures with back-off (`retry_read`); an order whose answer is lost
  raises `UnknownOutcome` and is never resent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib
import requests
from urllib3.exceptions import NewConnectionError

from autostock.brokers.base import BrokerCredentials, UnknownOutcome
from autostock.brokers.pacing import Pacer
from autostock.brokers.retry import retry_read
from autostock.brokers.token_cache import IssuedToken, TokenCache
from autostock.config import Settings
from autostock.errors import AuthError, BrokerRejected, BrokerUnavailable, RateLimited

Reply = tuple[dict[str, Any], dict[str, str]]          # body, response headers (lower-case names)


class StaleToken(Exception):
    """The broker refused the token before doing anything."""


class TrClient:
    """One app key's HTTP to one broker host; thread-safe."""

    broker = ""
    selector = ""                                     # request header naming the TR

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 base_url: str, rate: float, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (3.05, 10.0), pace_margin: float = 0.01,
                 token_issue_interval: float = 1.0, read_attempts: int = 3, rate_limit_attempts: int = 4,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.read_attempts = read_attempts
        self.rate_limit_attempts = rate_limit_attempts
        self._sleep = sleep
        self._http = session or requests.Session()
        # No key material in names. Brokers count requests per app key; a token belongs to the
        # key and its secret, so new credentials never pick up a token issued for the old ones.
        app_id = hashlib.sha256(credentials.app_key.encode()).hexdigest()[:16]
        cred_id = hashlib.sha256(f"{credentials.app_key}:{credentials.app_secret}".encode()).hexdigest()[:16]
        self.pace_key = settings.redis_key(self.broker, "pace", app_id)
        self.pace_margin = pace_margin
        self.pacer = Pacer(rate, redis=redis, key=self.pace_key, margin=pace_margin, sleep=sleep)
        self.tokens = TokenCache(redis, settings.redis_key(self.broker, "token", cred_id),
                                 min_issue_interval=token_issue_interval, sleep=sleep)

    # ---- what a broker supplies ---------------------------------------------------------
    def issue_token(self) -> IssuedToken:
        raise NotImplementedError

    def verdict(self, data: dict[str, Any]) -> tuple[str, str, str]:
        """(kind, code, message); kind: ok | token | rate_limit | auth | reject."""
        raise NotImplementedError

    def pace(self, tr: str) -> None:
        """Wait for this app key's next free slot (one limit for every TR unless overridden)."""
        self.pacer.wait()

    # ---- auth ---------------------------------------------------------------------------
    def token(self) -> str:
        return self.tokens.get(self.issue_token)

    def post_plain(self, path: str, *, data: str | None = None, body: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        """An unauthenticated call (token issue/revoke): the parsed body whatever the status."""
        try:
            resp = self._http.post(self.base_url + path, data=data if body is None else json.dumps(body),
                                   headers=headers or {}, timeout=self.timeout)
            parsed = resp.json()
        except (requests.RequestException, ValueError) as e:
            raise BrokerUnavailable(f"{self.broker} did not answer", details={"path": path}) from e
        return parsed if isinstance(parsed, dict) else {}

    def details(self, tr: str, code: str, message: str) -> dict[str, Any]:
        return {"broker": self.broker, "tr": tr, "broker_code": code, "broker_message": message}

    # ---- calls --------------------------------------------------------------------------
    def read(self, path: str, tr: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        """An idempotent query, retried on temporary failures."""
        return retry_read(lambda: self.send(path, tr, body, headers or {}, order=False),
                          attempts=self.read_attempts, sleep=self._sleep)

    def order(self, path: str, tr: str, body: dict[str, Any]) -> dict[str, Any]:
        """An order, modify or cancel: never resent once it may have reached the broker."""
        return self.send(path, tr, body, {}, order=True)[0]

    def send(self, path: str, tr: str, body: dict[str, Any], headers: dict[str, str], *, order: bool) -> Reply:
        for attempt in range(self.rate_limit_attempts):
            try:
                return self._once(path, tr, body, headers, order)
            except StaleToken:
                continue
            except RateLimited:
                if attempt == self.rate_limit_attempts - 1:
                    raise
                self._sleep(0.2 * 2 ** attempt)
        raise BrokerUnavailable(f"{self.broker} kept refusing the call", details={"tr": tr})

    def _once(self, path: str, tr: str, body: dict[str, Any], extra: dict[str, str], order: bool) -> Reply:
        token = self.token()
        headers = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {token}",
                   self.selector: tr, **extra}
        self.pace(tr)
        try:
            resp = self._http.post(self.base_url + path, data=json.dumps(body), headers=headers, timeout=self.timeout)
            data = resp.json()
        except requests.RequestException as e:
            if order and not _never_sent(e):
                raise UnknownOutcome("the order was sent and no answer came back", details={"tr": tr}) from e
            raise BrokerUnavailable(f"{self.broker} did not answer", details={"tr": tr}) from e
        except ValueError as e:
            if order:
                raise UnknownOutcome(f"{self.broker} answered an order with something unreadable",
                                     details={"tr": tr, "status": resp.status_code}) from e
            raise BrokerUnavailable(f"{self.broker} answered with something unreadable",
                                    details={"tr": tr, "status": resp.status_code}) from e
        if not isinstance(data, dict):
            raise BrokerUnavailable(f"{self.broker} answered without an envelope", details={"tr": tr})
        self._check(data, tr, token)
        return data, {k.lower(): v for k, v in resp.headers.items()}

    def _check(self, data: dict[str, Any], tr: str, token: str) -> None:
        kind, code, message = self.verdict(data)
        if kind == "ok":
            return
        details = self.details(tr, code, message)
        if kind == "token":
            self.tokens.invalidate(token)
            raise StaleToken
        if kind == "rate_limit":
            raise RateLimited(f"{self.broker} per-second limit reached", details=details)
        if kind == "auth":
            raise AuthError(message or f"{self.broker} refused the credentials", details=details)
        raise BrokerRejected(message or f"{self.broker} refused the request", details=details)

    def close(self) -> None:
        self._http.close()


def _never_sent(e: requests.RequestException) -> bool:
    """True when the connection was never made (refused, DNS), so no order can exist."""
    if isinstance(e, requests.ConnectTimeout):
        return True
    reason = e.args[0] if e.args else None
    return isinstance(getattr(reason, "reason", None), NewConnectionError)
