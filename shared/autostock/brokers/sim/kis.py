"""KIS REST simulator (docs/brokers.md §1, §5): auth, routing on (path, tr_id), envelopes.

One instance is one KIS host, real or paper; both can share an `Exchange` and a `KisApps`
registry so that keys used on the wrong host fail the way KIS fails (EGW02004: paper appkey on
the real host; EGW02007: real appkey on the paper host; EGW02006: a real TR on paper).

Auth follows KIS: `POST /oauth2/tokenP` issues at most once a minute per appkey (403 EGW00133)
and returns the same token within 6 hours; an expired token answers EGW00123. Every request is
recorded in `requests`; each appkey has a token bucket (20/s real, 2/s paper → 500 EGW00201).
The trading TRs themselves live in `sim/kis_trading.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import string
from dataclasses import dataclass, field

from autostock.brokers.sim import kis_trading
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import SEOUL, Faults
from autostock.brokers.sim.http import DropConnection, ServedSim, SimHttpServer, SimRequest, SimResponse, TokenBucket
from autostock.brokers.sim.kis_ws import KisWebsocketSim

TOKEN_LIFETIME = 86_400
SAME_TOKEN_WINDOW = 6 * 3600
ISSUE_INTERVAL = 60


@dataclass
class KisApp:
    appkey: str
    appsecret: str
    account: str              # "CANO-PRDT", also the exchange account id
    paper: bool
    hts_id: str = ""


@dataclass
class _Token:
    value: str
    appkey: str
    issued: float             # clock.monotonic()
    expired: bool = False


@dataclass
class KisApps:
    """App registry shared by a real and a paper simulator."""

    apps: dict[str, KisApp] = field(default_factory=dict)


def envelope(rt_cd: str, msg_cd: str, msg1: str, **outputs: object) -> dict[str, object]:
    return {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1, **outputs}


def fail(msg_cd: str, msg1: str, status: int = 200) -> SimResponse:
    return SimResponse(status, envelope("1", msg_cd, msg1))


class KisSim(ServedSim):
    """A KIS REST host on 127.0.0.1 backed by `exchange` (`start()`, then use `url`)."""

    def __init__(self, exchange: Exchange, *, paper: bool = False, apps: KisApps | None = None,
                 ws: KisWebsocketSim | None = None, rate: float | None = None, seed: int = 0,
                 port: int = 0) -> None:
        self.exchange = exchange
        self.paper = paper
        self.registry = apps or KisApps()
        self.ws = ws
        self.rate = rate or (2.0 if paper else 20.0)
        self.bucket = TokenBucket(self.rate)
        self.faults = Faults()
        self.server = SimHttpServer(self.handle, faults=self.faults, port=port)
        self.tokens: dict[str, _Token] = {}
        self.last_issue: dict[str, float] = {}
        self.issued_count = 0
        self.rate_limited_count = 0
        self.page_sizes = dict(kis_trading.PAGE_SIZES)   # tests shrink these to exercise paging
        self._rng = random.Random(seed)

    # ---- lifecycle and set-up -----------------------------------------------------------
    def add_app(self, appkey: str, appsecret: str, account: str, *, cash: int = 0, hts_id: str = "",
                paper: bool | None = None) -> KisApp:
        """Register an app key for `account` (opening it on the exchange with `cash`)."""
        app = KisApp(appkey, appsecret, account, self.paper if paper is None else paper, hts_id)
        self.registry.apps[appkey] = app
        if account not in self.exchange.accounts:
            self.exchange.open_account(account, cash)
        if self.ws is not None and hts_id:
            self.ws.hts_ids[hts_id] = account
        return app

    def expire_tokens(self) -> None:
        for token in self.tokens.values():
            token.expired = True

    def _now(self) -> float:
        return self.exchange.clock.monotonic()

    def _random(self, n: int) -> str:
        return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(n))

    # ---- dispatch -----------------------------------------------------------------------
    def handle(self, req: SimRequest) -> SimResponse:
        if self.faults.take("drop_before") is not None:
            raise DropConnection
        if req.method == "POST" and req.path == "/oauth2/tokenP":
            return self._token(req)
        if req.method == "POST" and req.path == "/oauth2/Approval":
            return self._approval(req)
        if req.method == "POST" and req.path == "/oauth2/revokeP":
            return SimResponse(200, {"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})
        if req.method == "POST" and req.path == "/uapi/hashkey":
            return self._hashkey(req)
        return self._api(req)

    def _app_for(self, appkey: str, appsecret: str) -> KisApp | SimResponse:
        app = self.registry.apps.get(appkey)
        if app is None or app.appsecret != appsecret:
            return fail("EGW00103", "유효하지 않은 AppKey입니다.", 500)
        if app.paper and not self.paper:
            return fail("EGW02004", "실전투자 AppKey가 아닙니다.", 500)
        if not app.paper and self.paper:
            return fail("EGW02007", "모의투자 AppKey가 아닙니다.", 500)
        return app

    def _token(self, req: SimRequest) -> SimResponse:
        try:
            body = req.json()
            app = self._app_for(body["appkey"], body["appsecret"])
            assert body["grant_type"] == "client_credentials"
        except (ValueError, KeyError, TypeError, AssertionError):
            return SimResponse(403, {"error_code": "EGW00002", "error_description": "잘못된 요청입니다."})
        if isinstance(app, SimResponse):
            return SimResponse(403, {"error_code": app.body["msg_cd"], "error_description": app.body["msg1"]})
        now = self._now()
        last = self.last_issue.get(app.appkey)
        if last is not None and now - last < ISSUE_INTERVAL:
            return SimResponse(403, {"error_code": "EGW00133",
                                     "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"})
        self.last_issue[app.appkey] = now
        current = next((t for t in self.tokens.values() if t.appkey == app.appkey and not t.expired
                        and now - t.issued < SAME_TOKEN_WINDOW), None)
        if current is None:
            current = _Token("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9." + self._random(120), app.appkey, now)
            self.tokens[current.value] = current
            self.issued_count += 1
        left = TOKEN_LIFETIME - (now - current.issued)
        expires = self.exchange.clock.now().astimezone(SEOUL) + dt.timedelta(seconds=left)
        return SimResponse(200, {"access_token": current.value, "token_type": "Bearer", "expires_in": int(left),
                                 "access_token_token_expired": expires.strftime("%Y-%m-%d %H:%M:%S")})

    def _approval(self, req: SimRequest) -> SimResponse:
        try:
            body = req.json()
            app = self._app_for(body["appkey"], body["secretkey"])  # KIS names it secretkey here
        except (ValueError, KeyError, TypeError):
            return SimResponse(403, {"error_code": "EGW00002", "error_description": "잘못된 요청입니다."})
        if isinstance(app, SimResponse):
            return app
        key = "-".join(self._random(n).lower() for n in (8, 4, 4, 4, 12))
        if self.ws is not None:
            self.ws.approvals[key] = app.appkey
        return SimResponse(200, {"approval_key": key})

    def _hashkey(self, req: SimRequest) -> SimResponse:
        app = self._app_for(req.headers.get("appkey", ""), req.headers.get("appsecret", ""))
        if isinstance(app, SimResponse):
            return app
        try:
            body = req.json()
        except ValueError:
            return fail("OPSQ0001", "JSON 형식이 올바르지 않습니다.", 500)
        return SimResponse(200, {"JsonBody": body, "HASH": hashlib.sha256(req.body).hexdigest()})

    def _api(self, req: SimRequest) -> SimResponse:
        app = self._app_for(req.headers.get("appkey", ""), req.headers.get("appsecret", ""))
        if isinstance(app, SimResponse):
            return app
        token = self.tokens.get(req.headers.get("authorization", "").removeprefix("Bearer "))
        if token is None or token.appkey != app.appkey:
            return fail("EGW00121", "유효하지 않은 token 입니다.", 500)
        if token.expired or self._now() - token.issued >= TOKEN_LIFETIME:
            return fail("EGW00123", "기간이 만료된 token 입니다.", 500)
        if self.faults.take("rate_limit") is not None or not self.bucket.take(app.appkey):
            self.rate_limited_count += 1
            req.meta["rate_limited"] = True
            return fail("EGW00201", "초당 거래건수를 초과하였습니다.", 500)
        if req.headers.get("hashkey") and req.headers["hashkey"] != hashlib.sha256(req.body).hexdigest():
            return fail("OPSQ0003", "hashkey가 본문과 일치하지 않습니다.", 500)
        tr_id = req.headers.get("tr_id", "")
        route = kis_trading.route(req.method, req.path, tr_id, paper=self.paper)
        if isinstance(route, tuple):
            return fail(*route, 500)
        try:
            params = req.query if req.method == "GET" else json.loads(req.body or b"{}")
        except ValueError:
            return fail("OPSQ0001", "JSON 형식이 올바르지 않습니다.", 500)
        return route(kis_trading.Context(self.exchange, app.account, self.paper, self.faults, req, self.page_sizes),
                     params)
