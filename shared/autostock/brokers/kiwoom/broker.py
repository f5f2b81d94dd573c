"""`KiwoomBroker`: the platform's Broker interface over the Kiwoom REST API (real and paper).

Real and paper are separate hosts with separate keys (§3.1); `credentials.paper` picks the
host. Orders go to KRX (`dmst_stex_tp`), the only venue paper offers. An order's state comes
from ka10075 (still open) and ka10076 (filled or finished). Realtime (websocket types 00/04,
0B/0D) is not implemented for Kiwoom.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, ClassVar

import redis as redis_lib

from autostock.brokers.base import (AccountInfo, Balance, Broker, BrokerCredentials, DailyBar, OrderAck,
                                    OrderRequest, OrderStatus, OrderType, Position, Quote, UnknownOutcome)
from autostock.brokers.kiwoom import parse
from autostock.brokers.kiwoom.client import KiwoomClient
from autostock.brokers.lost_orders import LostOrders
from autostock.config import Settings
from autostock.errors import NotFound, ValidationError

ORDR, ACNT = "/api/dostk/ordr", "/api/dostk/acnt"
STKINFO, MRKCOND, CHART = "/api/dostk/stkinfo", "/api/dostk/mrkcond", "/api/dostk/chart"
_SYMBOL = re.compile(r"^[0-9A-Z]{6}$")


def _kst_now() -> dt.datetime:
    return dt.datetime.now(parse.SEOUL)


class KiwoomBroker(Broker):
    """One Kiwoom account. `clock` gives "now" in KST (tests pass the simulator's clock)."""

    name: ClassVar[str] = "kiwoom"
    capabilities: ClassVar[dict[str, Any]] = {
        "paper": True,
        "order_types": ("limit", "market"),
        "requests_per_second": {"real": 5, "paper": 5},   # Kiwoom's own numbers are unconfirmed (§3.8)
        "fills": "cumulative",
        "client_order_id": False,
        "modify_creates_new_id": True,
        "realtime": None,
    }

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 clock: Callable[[], dt.datetime] = _kst_now, **client_options: Any) -> None:
        self.credentials = credentials
        self.client = KiwoomClient(settings, credentials, redis, **client_options)
        self._clock = clock
        self._lost = LostOrders()
        self._symbols: dict[str, str] = {}

    def _today(self) -> dt.date:
        return self._clock().astimezone(parse.SEOUL).date()

    # ---- account ------------------------------------------------------------------------
    def connect(self) -> None:
        self.client.token()

    def account_info(self) -> AccountInfo:
        digits = self.credentials.account_number.replace("-", "")
        return AccountInfo("kiwoom", f"{digits[:4]}****{digits[-2:]}", self.credentials.paper)

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
        body, _ = self.client.read(ACNT, "kt00011", {"stk_cd": self._symbol(symbol), "uv": str(price) if price else ""})
        return parse.num(body.get("min_ord_alowq"))

    # ---- orders -------------------------------------------------------------------------
    @staticmethod
    def _symbol(symbol: str) -> str:
        if not _SYMBOL.match(symbol or ""):
            raise ValidationError("symbol must be a 6-character KRX code", details={"symbol": symbol})
        return symbol

    def place_order(self, request: OrderRequest) -> OrderAck:
        self._symbol(request.symbol)
        if request.quantity <= 0:
            raise ValidationError("quantity must be positive", details={"quantity": request.quantity})
        if request.order_type == OrderType.LIMIT and request.price <= 0:
            raise ValidationError("a limit order needs a price", details={"price": request.price})
        self._lost.sent(request)
        api_id = "kt10000" if request.side.value == "buy" else "kt10001"
        try:
            body = self.client.order(ORDR, api_id, parse.order_body(request))
        except UnknownOutcome as e:
            e.details.update(client_order_id=request.client_order_id, symbol=request.symbol,
                             side=request.side.value, quantity=request.quantity, price=request.price)
            raise
        return self._acked(body, request.symbol)

    def _acked(self, body: dict[str, Any], symbol: str) -> OrderAck:
        result = parse.ack(body, self._clock())
        self._lost.acked(result.broker_order_id)
        self._symbols[result.broker_order_id] = symbol
        return result

    def _symbol_of(self, broker_order_id: str) -> str:
        return self._symbols.get(broker_order_id) or self.order_status(broker_order_id).symbol

    def modify_order(self, broker_order_id: str, quantity: int, price: int) -> OrderAck:
        if quantity <= 0 or price <= 0:
            raise ValidationError("a modify needs a positive quantity and price")
        symbol = self._symbol_of(broker_order_id)
        body = {"dmst_stex_tp": "KRX", "orig_ord_no": broker_order_id, "stk_cd": symbol, "mdfy_qty": str(quantity),
                "mdfy_uv": str(price), "mdfy_cond_uv": ""}
        return self._acked(self.client.order(ORDR, "kt10002", body), symbol)

    def cancel_order(self, broker_order_id: str, quantity: int | None = None) -> OrderAck:
        if quantity is not None and quantity <= 0:
            raise ValidationError("cancel quantity must be positive")
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

    def find_order(self, client_order_id: str) -> OrderStatus | None:
        return self._lost.find(client_order_id, self.orders_today,
                               order_key=lambda n: int(n) if n.isdigit() else 0)

    # ---- market data --------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote:
        """ka10001 (price, limits) plus ka10004 (best bid/ask)."""
        body, _ = self.client.read(STKINFO, "ka10001", {"stk_cd": self._symbol(symbol)})
        book, _ = self.client.read(MRKCOND, "ka10004", {"stk_cd": symbol})
        return parse.quote(symbol, body, book)

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        """Bars from `end` back to `start`: ka10081 pages newest first; stop once past `start`."""
        self._symbol(symbol)
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

    def close(self) -> None:
        self.client.close()
