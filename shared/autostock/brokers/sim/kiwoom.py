"""Kiwoom REST simulator (docs/brokers.md §3, §5): one instance is one host, real
(`api.kiwoom.com`) or paper (`mockapi.kiwoom.com`); both may share an `Exchange` and an app
registry so that a key used on the wrong host fails as Kiwoom's does.

Auth: `POST /oauth2/token` (api-id au10001, JSON `{grant_type, appkey, secretkey}`) →
`{expires_dt, token_type, token, return_code, return_msg}`; `POST /oauth2/revoke` (au10002).
TRs: POST to a category path with header `api-id`; flat JSON answers with an int
`return_code` (0 = ok) and string values; response headers api-id/cont-yn/next-key.
Codes (§3.3): 1511/1517 input, 1700 over the limit, 8001 bad key, 8005 bad or expired
token, 8030/8031 real/paper mismatch. Which of 8030/8031 is which is unconfirmed; here 8030 =
a paper key on the real host, 8031 = a real key on the paper host. Kiwoom's HTTP status on
these is unconfirmed too; the simulator answers 200 and clients must read `return_code`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from autostock.brokers.sim import kiwoom_trading
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import SEOUL
from autostock.brokers.sim.http import SimRequest, SimResponse
from autostock.brokers.sim.tr_server import SimApp, TrSim

GATEWAY = {
    "token": (8005, "Token이 유효하지 않습니다."),
    "rate_limit": (1700, "허용된 요청 개수를 초과하였습니다. API ID=%s"),
    "no_route": (1504, "해당 URI에서는 지원하는 API ID가 아닙니다."),
    "bad_body": (1501, "API ID가 Null이거나 값이 없습니다."),
    "bad_key": (8001, "App Key와 Secret Key 검증에 실패했습니다."),
    "paper_key_on_real": (8030, "실전투자 App Key가 아닙니다."),
    "real_key_on_paper": (8031, "모의투자 App Key가 아닙니다."),
}


def reply(code: int, message: str, headers: dict[str, str] | None = None, **fields: Any) -> SimResponse:
    return SimResponse(200, {**fields, "return_code": code, "return_msg": message}, headers or {})


class KiwoomSim(TrSim):
    """A Kiwoom REST host on 127.0.0.1, backed by `exchange`."""

    selector_header = "api-id"
    routes = kiwoom_trading.ROUTES

    def __init__(self, exchange: Exchange, **options: Any) -> None:
        options.setdefault("rate", 5.0)
        super().__init__(exchange, **options)

    def error(self, kind: str) -> SimResponse:
        code, message = GATEWAY[kind]
        return reply(code, message.replace("%s", ""))

    def app_error(self, app: SimApp) -> SimResponse | None:
        if app.paper and not self.paper:
            return self.error("paper_key_on_real")
        if not app.paper and self.paper:
            return self.error("real_key_on_paper")
        return None

    def _json(self, req: SimRequest) -> dict[str, Any] | None:
        try:
            body = req.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def issue(self, req: SimRequest) -> SimResponse:
        body = self._json(req)
        if body is None or body.get("grant_type") != "client_credentials":
            return self.error("bad_body")
        app = self.apps.get(str(body.get("appkey", "")))
        if app is None or app.secret != body.get("secretkey"):  # Kiwoom names it secretkey (§3.2)
            return self.error("bad_key")
        wrong = self.app_error(app)
        if wrong is not None:
            return wrong
        token = self.new_token(app)
        expires = self.exchange.clock.now().astimezone(SEOUL) + dt.timedelta(seconds=self.remaining(token))
        return reply(0, "정상적으로 처리되었습니다", {"api-id": "au10001"}, expires_dt=expires.strftime("%Y%m%d%H%M%S"),
                     token_type="bearer", token=token.value)

    def revoke(self, req: SimRequest) -> SimResponse:
        body = self._json(req) or {}
        app = self.apps.get(str(body.get("appkey", "")))
        token = self.tokens.get(str(body.get("token", "")))
        if app is None or app.secret != body.get("secretkey") or token is None or token.appkey != app.appkey:
            return self.error("bad_key")
        token.expired = True
        return reply(0, "정상적으로 처리되었습니다", {"api-id": "au10002"})
