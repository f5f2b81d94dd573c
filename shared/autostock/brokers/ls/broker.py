"""`LsBroker`: the platform's Broker interface over the LS Securities OpenAPI (real and paper).

LS serves real and paper from one host; the app key decides (§2.1), so `credentials.paper`
only labels the account. Symbols always go out as `A`+code, which paper requires (§2.5).
Realtime (SC0-SC4, S3_) is not implemented for LS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

import redis as redis_lib

from autostock.brokers.base import (AccountInfo, Balance, BrokerCredentials, DailyBar, OrderAck, OrderRequest,
                                    OrderStatus, Position, Quote, UnknownOutcome)
from autostock.brokers.ls import parse
from autostock.brokers.ls.client import TR_RATES, LsClient
from autostock.brokers.tr_broker import TrBroker, check_change, check_order, check_symbol, kst_now
from autostock.config import Settings
from autostock.errors import NotFound, ValidationError

ORDER, ACCOUNT, MARKET, CHART = "/stock/order", "/stock/accno", "/stock/market-data", "/stock/chart"


class LsBroker(TrBroker):
    """One LS account. `clock` gives "today" in KST (tests pass the simulator's clock)."""

    name: ClassVar[str] = "ls"
    capabilities: ClassVar[dict[str, Any]] = {
        "paper": True,
        "order_types": ("limit", "market"),
        "requests_per_second": dict(TR_RATES),   # per TR (§2.9)
        "fills": "cumulative",                   # t0425 gives one cumulative fill per order
        "client_order_id": False,       # find_order matches the recorded request to today's orders
        "find_order": True,
        "modify_creates_new_id": True,
        "order_numbers_per_day": True,  # numbering starts again each morning; the listing is today's
        "cancel_needs_quantity": True,           # CSPAT00801 takes OrdQty; None → the remainder
        "realtime": None,
    }

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 clock: Callable[[], dt.datetime] = kst_now, **client_options: Any) -> None:
        super().__init__(clock=clock)
        self.credentials = credentials
        self.client = LsClient(settings, credentials, redis, **client_options)

    # ---- account ------------------------------------------------------------------------
    def account_info(self) -> AccountInfo:
        return AccountInfo("ls", self._masked(), self.credentials.paper)

    def balance(self) -> Balance:
        body, _ = self.client.read(ACCOUNT, "CSPAQ12200", {"CSPAQ12200InBlock1": {"BalCreTp": "0"}})
        return parse.balance(body.get("CSPAQ12200OutBlock2") or {})

    def positions(self) -> list[Position]:
        rows, _ = self.client.pages(ACCOUNT, "t0424", {"prcgb": "1", "chegb": "2", "dangb": "0", "charge": "1",
                                                       "cts_expcode": ""}, "cts_expcode", "t0424OutBlock1")
        return parse.positions(rows)

    def buyable_quantity(self, symbol: str, price: int = 0) -> int:
        """Shares of `symbol` buyable with cash alone (CSPBQ00200; price 0 = market)."""
        block = {"BnsTpCode": "2", "IsuNo": parse.isu_no(check_symbol(symbol)), "OrdPrc": price}
        body, _ = self.client.read(ACCOUNT, "CSPBQ00200", {"CSPBQ00200InBlock1": block})
        return parse.num((body.get("CSPBQ00200OutBlock2") or {}).get("MgnRat100MnyOrdAbleQty"))

    # ---- orders -------------------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> OrderAck:
        check_order(request)
        self._lost.sent(request)
        try:
            body = self.client.order(ORDER, "CSPAT00601", {"CSPAT00601InBlock1": parse.order_block(request)})
        except UnknownOutcome as e:
            self._lost_answer(request, e.details)
            raise
        return self._acked(body, "CSPAT00601", request.symbol, request.client_order_id)

    def _acked(self, body: dict[str, Any], tr: str, symbol: str, client_order_id: str = "") -> OrderAck:
        return self._remember(parse.ack(body.get(f"{tr}OutBlock2") or {}, self._today()), symbol, client_order_id)

    def _order_id(self, broker_order_id: str) -> int:
        if not str(broker_order_id).isdigit():
            raise ValidationError("an LS order number is numeric", details={"broker_order_id": broker_order_id})
        return int(broker_order_id)

    def modify_order(self, broker_order_id: str, quantity: int, price: int) -> OrderAck:
        check_change(quantity, price)
        symbol = self._symbol_of(broker_order_id)
        block = {"OrgOrdNo": self._order_id(broker_order_id), "IsuNo": parse.isu_no(symbol), "OrdQty": quantity,
                 "OrdprcPtnCode": "00", "OrdCndiTpCode": "0", "OrdPrc": price}
        return self._acked(self.client.order(ORDER, "CSPAT00701", {"CSPAT00701InBlock1": block}), "CSPAT00701", symbol)

    def cancel_order(self, broker_order_id: str, quantity: int | None = None) -> OrderAck:
        check_change(quantity)
        symbol = self._symbols.get(broker_order_id, "")
        if quantity is None or not symbol:
            status = self.order_status(broker_order_id)
            symbol, quantity = status.symbol, quantity or status.remaining
        block = {"OrgOrdNo": self._order_id(broker_order_id), "IsuNo": parse.isu_no(symbol), "OrdQty": quantity}
        return self._acked(self.client.order(ORDER, "CSPAT00801", {"CSPAT00801InBlock1": block}), "CSPAT00801", symbol)

    def _rows(self) -> list[dict[str, Any]]:
        block = {"expcode": "", "chegb": "0", "medosu": "0", "sortgb": "2", "cts_ordno": ""}
        rows, _ = self.client.pages(ACCOUNT, "t0425", block, "cts_ordno", "t0425OutBlock1")
        return rows

    def order_status(self, broker_order_id: str) -> OrderStatus:
        self._order_id(broker_order_id)
        for row in self._rows():
            if str(parse.num(row.get("ordno"))) == broker_order_id and row.get("status") != parse.CANCEL_RECORD:
                return parse.order_status(row, self._today())
        raise NotFound("no such order today at LS", details={"broker_order_id": broker_order_id})

    def orders_today(self) -> list[OrderStatus]:
        return [parse.order_status(r, self._today()) for r in self._rows() if r.get("status") != parse.CANCEL_RECORD]

    # ---- market data --------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote:
        """t1102 (price, limits) plus t1101 (best bid/ask): LS's price TR carries no book."""
        block = {"shcode": check_symbol(symbol), "exchgubun": "K"}
        price, _ = self.client.read(MARKET, "t1102", {"t1102InBlock": block})
        book, _ = self.client.read(MARKET, "t1101", {"t1101InBlock": block})
        return parse.quote(symbol, price.get("t1102OutBlock") or {}, book.get("t1101OutBlock") or {})

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        check_symbol(symbol)
        if start > end:
            raise ValidationError("start is after end")
        block = {"shcode": symbol, "gubun": "2", "qrycnt": 500, "sdate": start.strftime("%Y%m%d"),
                 "edate": end.strftime("%Y%m%d"), "cts_date": "", "comp_yn": "N", "sujung": "Y"}
        rows, _ = self.client.pages(CHART, "t8410", block, "cts_date", "t8410OutBlock1")
        return [b for b in parse.daily_bars(rows) if start <= b.date <= end]
