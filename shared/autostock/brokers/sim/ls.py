"""LS Securities (ex-eBEST) REST simulator (docs/brokers.md §2, §5).

One host serves real and paper: the app key decides (§2.1), and paper answers say "모의투자".
Auth: `POST /oauth2/token` form-urlencoded (grant_type, appkey, appsecretkey, scope=oob) →
`{access_token, token_type, scope, expires_in}`; `POST /oauth2/revoke` → `{code, message}`.
TRs: POST to a category path with header `tr_cd`, body `{"<TR>InBlock[1]": {...}}`, answer
`{"<TR>OutBlock…": ..., "rsp_cd", "rsp_msg"}` with response headers tr_cd/tr_cont/tr_cont_key.

Gateway codes seen in third-party LS clients (obs): IGW00103/IGW00105 bad app key/secret,
IGW00121 invalid or expired token, IGW00201 over the per-second limit. Their HTTP status is
unconfirmed; the simulator answers 500 like KIS's gateway. The limits are per TR and
configurable (`tr_rates`), since LS publishes one per TR and the REST values are unconfirmed.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from autostock.brokers.sim import ls_trading
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.http import SimRequest, SimResponse
from autostock.brokers.sim.tr_server import TrSim

GATEWAY = {
    "token": ("IGW00121", "유효하지 않은 token 입니다."),
    "rate_limit": ("IGW00201", "초당 전송건수를 초과하였습니다."),
    "no_route": ("IGW00002", "존재하지 않는 TR 입니다."),
    "bad_body": ("IGW00003", "요청 본문이 올바르지 않습니다."),
    "bad_key": ("IGW00103", "유효하지 않은 AppKey입니다."),
    "bad_secret": ("IGW00105", "유효하지 않은 AppSecretKey입니다."),
}


class LsSim(TrSim):
    """The LS REST host on 127.0.0.1, backed by `exchange`."""

    selector_header = "tr_cd"
    routes = ls_trading.ROUTES

    def __init__(self, exchange: Exchange, **options: object) -> None:
        options.setdefault("rate", 10.0)
        super().__init__(exchange, **options)  # type: ignore[arg-type]

    def error(self, kind: str) -> SimResponse:
        code, message = GATEWAY[kind]
        return SimResponse(500, {"rsp_cd": code, "rsp_msg": message})

    def _form(self, req: SimRequest) -> dict[str, str] | None:
        if "x-www-form-urlencoded" not in req.headers.get("content-type", ""):
            return None
        return dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))

    def issue(self, req: SimRequest) -> SimResponse:
        form = self._form(req)
        if form is None or form.get("grant_type") != "client_credentials" or form.get("scope") != "oob":
            return SimResponse(400, {"rsp_cd": "IGW00002", "rsp_msg": "grant_type/scope 또는 content-type 오류"})
        app = self.apps.get(form.get("appkey", ""))
        if app is None:
            return self.error("bad_key")
        if app.secret != form.get("appsecretkey"):
            return self.error("bad_secret")
        token = self.new_token(app)
        return SimResponse(200, {"access_token": token.value, "scope": "oob", "token_type": "Bearer",
                                 "expires_in": self.remaining(token)})

    def revoke(self, req: SimRequest) -> SimResponse:
        form = self._form(req) or {}
        app = self.apps.get(form.get("appkey", ""))
        token = self.tokens.get(form.get("token", ""))
        if app is None or app.secret != form.get("appsecretkey") or token is None or token.appkey != app.appkey:
            return SimResponse(400, {"code": 400, "message": "접근토큰 폐기에 실패하였습니다."})
        token.expired = True
        return SimResponse(200, {"code": 200, "message": "접근토큰 폐기에 성공하였습니다."})
