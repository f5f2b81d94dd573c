"""`KiwoomBroker`: the platform's Broker interface over the Kiwoom REST API (real and paper).

Real and paper are separate hosts with separate keys (§3.1); `credentials.paper` picks the
host. Orders go to KRX (`dmst_stex_tp`), the only venue paper offers. An order's state comes
from ka10075 (still open) and ka10076 (filled or finished). Realtime (websocket types 00/04,
0B/0D) is not implemented for Kiwoom.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

import redis as redis_lib

from autostock.brokers.base import (AccountInfo, Balance, BrokerCredentials, DailyBar, OrderAck, OrderRequest,
                                    OrderStatus, Position, Quote, UnknownOutcome)
from autostock.brokers.kiwoom import parse
from autostock.brokers.kiwoom.client import KiwoomClient
from autostock.brokers.tr_broker import TrBroker, check_change, check_order, check_symbol, kst_now
from autostock.config import Settings
from autostock.errors import NotFound, ValidationError

ORDR, ACNT = "/api/dostk/ordr", "/api/dostk/acnt"
STKINFO, MRKCOND, CHART = "/api/dostk/stkinfo", "/api/dostk/mrkcond", "/api/dostk/chart"


class KiwoomBroker(TrBroker):
    """One Kiwoom account. `clock` gives "now" in KST (tests pass the simulator's clock)."""

    name: ClassVar[str] = "kiwoom"
    capabilities: ClassVar[dict[str, Any]] = {
        "paper": True,
        "order_types": ("limit", "market"),
        "requests_per_second": {"real": 5, "paper": 5},   # Kiwoom's own numbers are unconfirmed (§3.8)
        "fills": "cumulative",
        "client_order_id": False,       # find_order matches the recorded request to today's orders
        "find_order": True,
        "modify_creates_new_id": True,
        "order_numbers_per_day": True,  # numbering starts again each morning; the listing is today's
        "realtime": None,
    }

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 clock: Callable[[], dt.datetime] = kst_now, **client_options: Any) -> None:
        super().__init__(clock=clock)
        self.credentials = credentials
        self.client = KiwoomClient(settings, credentials, redis, **client_options)

    # ---- account ------------------------------------------------------------------------
    def account_info(self) -> AccountInfo:
        return AccountInfo("kiwoom", self._masked(), self.credentials.paper)

    def _evaluation(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.client.pages(ACNT, "kt00018", {"qry_tp": "1", "dmst_stex_tp": "KRX"}, "acnt_evlt_remn_indv_tot")

    def balance(self) -> Balance:
        deposit, _ = self.client.read(ACNT, "kt00001", {"qry_tp": "3"})
        _, evaluation = self._evaluation()
        return parse.balance(deposit, evaluation)

    def positions(self) -> list[Position]:
        rows, _ = self._evaluation()
        return parse.positions(rows)

    def buyable_quantity(self, symbol: str, price: int = 0) -> int:
        """Shares of `symbol` buyable without 미수 (kt00011 `min_ord_alowq`; price 0 = market)."""
        body, _ = self.client.read(ACNT, "kt00011", {"stk_cd": check_symbol(symbol), "uv": str(price) if price else ""})
        return parse.num(body.get("min_ord_alowq"))

    # ---- orders -------------------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> OrderAck:
        check_order(request)
        self._lost.sent(request)
        api_id = "kt10000" if request.side.value == "buy" else "kt10001"
        try:
            body = self.client.order(ORDR, api_id, parse.order_body(request))
        except UnknownOutcome as e:
            self._lost_answer(request, e.details)
            raise
        return self._acked(body, request.symbol, request.client_order_id)

    def _acked(self, body: dict[str, Any], symbol: str, client_order_id: str = "") -> OrderAck:
        return self._remember(parse.ack(body, self._clock()), symbol, client_order_id)

    def modify_order(self, broker_order_id: str, quantity: int, price: int) -> OrderAck:
        check_change(quantity, price)
        symbol = self._symbol_of(broker_order_id)
        body = {"dmst_stex_tp": "KRX", "orig_ord_no": broker_order_id, "stk_cd": symbol, "mdfy_qty": str(quantity),
                "mdfy_uv": str(price), "mdfy_cond_uv": ""}
        return self._acked(self.client.order(ORDR, "kt10002", body), symbol)

    def cancel_order(self, broker_order_id: str, quantity: int | None = None) -> OrderAck:
        check_change(quantity)
        symbol = self._symbol_of(broker_order_id)
        body = {"dmst_stex_tp": "KRX", "orig_ord_no": broker_order_id, "stk_cd": symbol,
                "cncl_qty": str(quantity or 0)}                 # "0" cancels all remaining (§3.5)
        return self._acked(self.client.order(ORDR, "kt10003", body), symbol)

    def _rows(self) -> dict[str, dict[str, Any]]:
        """Today's orders by number: finished/filled ones (ka10076), then open ones (ka10075)."""
        done, _ = self.client.pages(ACNT, "ka10076", {"qry_tp": "0", "sell_tp": "0", "stex_tp": "0", "stk_cd": "",
                                                      "ord_no": ""}, "cntr")
        live, _ = self.client.pages(ACNT, "ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0",
                                                      "stk_cd": ""}, "oso")
        rows = {str(r.get("ord_no")): r for r in done if not parse.is_cancel_record(r)}
        rows.update((str(r.get("ord_no")), r) for r in live)
        return rows

    def order_status(self, broker_order_id: str) -> OrderStatus:
        row = self._rows().get(broker_order_id)
        if row is None:
            raise NotFound("no such order today at Kiwoom", details={"broker_order_id": broker_order_id})
        return parse.order_status(row, self._today())

    def orders_today(self) -> list[OrderStatus]:
        today = self._today()
        return [parse.order_status(r, today) for _, r in sorted(self._rows().items())]

    # ---- market data --------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote:
        """ka10001 (price, limits) plus ka10004 (best bid/ask)."""
        body, _ = self.client.read(STKINFO, "ka10001", {"stk_cd": check_symbol(symbol)})
        book, _ = self.client.read(MRKCOND, "ka10004", {"stk_cd": symbol})
        return parse.quote(symbol, body, book)

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        """Bars from `end` back to `start`: ka10081 pages newest first; stop once past `start`."""
        check_symbol(symbol)
        if start > end:
            raise ValidationError("start is after end")
        body = {"stk_cd": symbol, "base_dt": end.strftime("%Y%m%d"), "upd_stkpc_tp": "1"}
        bars: list[DailyBar] = []
        headers: dict[str, str] = {}
        for _ in range(50):
            data, answer = self.client.read(CHART, "ka10081", body, headers)
            chunk = parse.daily_bars(data.get("stk_dt_pole_chart_qry") or [])
            bars.extend(chunk)
            if answer.get("cont-yn") != "Y" or not chunk or chunk[0].date < start:
                break
            headers = {"cont-yn": "Y", "next-key": answer.get("next-key", "")}
        return sorted({b.date: b for b in bars if start <= b.date <= end}.values(), key=lambda b: b.date)
