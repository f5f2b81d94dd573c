"""What the LS and Kiwoom simulators share: app keys, bearer tokens, per-key rate buckets and
dispatch on (path, selector header) to TR handlers backed by the shared `Exchange`.

Both brokers take every TR as a POST with a JSON body to a category path and pick the TR by a
header (LS `tr_cd`, Kiwoom `api-id`; docs/brokers.md §0). A subclass supplies the broker's
token endpoints, its error envelope and its route table; this class records every request
(via `SimHttpServer`), applies faults and checks the token and the rate before a handler runs.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autostock.brokers.sim.exchange import Exchange, Holding, Instrument
from autostock.brokers.sim.feed import SEOUL, Bar, Faults, synthetic_daily_bars
from autostock.brokers.sim.http import DropConnection, ServedSim, SimHttpServer, SimRequest, SimResponse, TokenBucket

TOKEN_LIFETIME = 86_400


@dataclass
class SimApp:
    appkey: str
    secret: str
    account: str              # also the exchange account id
    paper: bool


@dataclass
class SimToken:
    value: str
    appkey: str
    issued: float             # exchange clock monotonic seconds
    expired: bool = False


@dataclass
class TrContext:
    """What a TR handler sees: the exchange, the caller's account and the raw request."""

    exchange: Exchange
    account: str
    paper: bool
    faults: Faults
    request: SimRequest
    sim: TrSim


TrHandler = Callable[[TrContext, dict[str, Any]], SimResponse]


def holdings(exchange: Exchange, account: str) -> list[tuple[Holding, Instrument, int]]:
    """The account's non-empty holdings by symbol: (holding, instrument, value at the last price)."""
    acct = exchange.account(account)
    return [(h, exchange.instruments[symbol], h.quantity * exchange.instruments[symbol].last)
            for symbol, h in sorted(acct.holdings.items()) if h.quantity]


def daily_bars(exchange: Exchange, inst: Instrument) -> list[Bar]:
    """The instrument's daily history: loaded bars, else 250 seeded synthetic ones to yesterday."""
    bars = exchange.daily.get(inst.symbol)
    if bars is None:
        today = exchange.clock.now().astimezone(SEOUL).date()
        bars = exchange.daily[inst.symbol] = synthetic_daily_bars(
            inst.prev_close, today - dt.timedelta(days=1), 250, seed=exchange.seed)
    return bars


class TrSim(ServedSim):
    """Base of a token-authenticated, header-routed JSON TR server (start(), then `url`)."""

    selector_header = ""                        # "tr_cd" | "api-id"
    token_path = "/oauth2/token"
    revoke_path = "/oauth2/revoke"

    def __init__(self, exchange: Exchange, *, paper: bool = False, rate: float = 10.0,
                 tr_rates: dict[str, float] | None = None, apps: dict[str, SimApp] | None = None,
                 token_lifetime: int = TOKEN_LIFETIME, seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.exchange = exchange
        self.paper = paper
        self.apps = apps if apps is not None else {}
        self.token_lifetime = token_lifetime
        self.rate = rate
        self.tr_rates = dict(tr_rates or {})    # per-TR limits (LS publishes one per TR, §2.9)
        self._buckets: dict[str, TokenBucket] = {}
        self.faults = Faults()
        self.server = SimHttpServer(self.handle, faults=self.faults, host=host, port=port)
        self.tokens: dict[str, SimToken] = {}
        self.issued_count = 0
        self.rate_limited_count = 0
        self._rng = random.Random(seed)

    # ---- lifecycle and set-up -----------------------------------------------------------
    def add_app(self, appkey: str, secret: str, account: str, *, cash: int = 0, paper: bool | None = None) -> SimApp:
        """Register an app key for `account` (opening it on the exchange with `cash`)."""
        app = SimApp(appkey, secret, account, self.paper if paper is None else paper)
        self.apps[appkey] = app
        if account not in self.exchange.accounts:
            self.exchange.open_account(account, cash)
        return app

    def expire_tokens(self) -> None:
        for token in self.tokens.values():
            token.expired = True

    def now(self) -> float:
        return self.exchange.clock.monotonic()

    def random_token(self) -> str:
        return "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9." + "".join(
            self._rng.choice(string.ascii_letters + string.digits) for _ in range(120))

    def new_token(self, app: SimApp) -> SimToken:
        token = SimToken(self.random_token(), app.appkey, self.now())
        self.tokens[token.value] = token
        self.issued_count += 1
        return token

    def remaining(self, token: SimToken) -> int:
        return max(0, int(self.token_lifetime - (self.now() - token.issued)))

    # ---- broker-specific hooks ----------------------------------------------------------
    routes: dict[tuple[str, str], TrHandler] = {}

    def issue(self, req: SimRequest) -> SimResponse:
        raise NotImplementedError

    def revoke(self, req: SimRequest) -> SimResponse:
        raise NotImplementedError

    def error(self, kind: str) -> SimResponse:
        """The broker's answer for a gateway refusal: token, rate_limit, no_route, bad_body, wrong_env."""
        raise NotImplementedError

    def app_error(self, app: SimApp) -> SimResponse | None:
        """A refusal for an app key used on the wrong host (Kiwoom 8030/8031); LS has none."""
        return None

    # ---- dispatch -----------------------------------------------------------------------
    def handle(self, req: SimRequest) -> SimResponse:
        if self.faults.take("drop_before") is not None:
            raise DropConnection
        if req.method != "POST":
            return self.error("no_route")
        if req.path == self.token_path:
            return self.issue(req)
        if req.path == self.revoke_path:
            return self.revoke(req)
        return self._api(req)

    def _bucket(self, tr: str) -> TokenBucket:
        rate = self.tr_rates.get(tr, self.rate)
        key = tr if tr in self.tr_rates else "*"
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[key] = TokenBucket(rate)
        return bucket

    def _api(self, req: SimRequest) -> SimResponse:
        token = self.tokens.get(req.headers.get("authorization", "").removeprefix("Bearer ").strip())
        if token is None or token.expired or self.remaining(token) <= 0:
            return self.error("token")
        app = self.apps[token.appkey]
        wrong = self.app_error(app)
        if wrong is not None:
            return wrong
        tr = req.headers.get(self.selector_header, "")
        if self.faults.take("rate_limit") is not None or not self._bucket(tr).take(app.appkey):
            self.rate_limited_count += 1
            req.meta["rate_limited"] = True
            return self.error("rate_limit")
        handler = self.routes.get((req.path, tr))
        if handler is None:
            return self.error("no_route")
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return self.error("bad_body")
        if not isinstance(body, dict):
            return self.error("bad_body")
        return handler(TrContext(self.exchange, app.account, app.paper, self.faults, req, self), body)
