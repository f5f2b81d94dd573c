"""`KisBroker`: the platform's Broker interface over the KIS REST API (real and paper)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import redis as redis_lib

from autostock.brokers.base import (AccountInfo, Balance, Broker, BrokerCredentials, DailyBar, OrderAck,
                                    OrderRequest, OrderStatus, OrderType, Position, Quote, UnknownOutcome)
from autostock.brokers.kis import parse
from autostock.brokers.kis.client import KisClient
from autostock.brokers.lost_orders import LostOrders
from autostock.config import Settings
from autostock.errors import NotFound, ValidationError

V1 = "/uapi/domestic-stock/v1/"
ORDER_CASH, REVISE = V1 + "trading/order-cash", V1 + "trading/order-rvsecncl"
DAILY_CCLD, BALANCE = V1 + "trading/inquire-daily-ccld", V1 + "trading/inquire-balance"
BUYABLE, PRICE = V1 + "trading/inquire-psbl-order", V1 + "quotations/inquire-price"
CHART = V1 + "quotations/inquire-daily-itemchartprice"
BOOK = V1 + "quotations/inquire-asking-price-exp-ccn"
_SYMBOL = re.compile(r"^[0-9A-Z]{6}$")


def _kst_now() -> dt.datetime:
    return dt.datetime.now(parse.SEOUL)


class KisBroker(Broker):
    """One KIS account. `clock` gives "today" in KST for the day's inquiries (tests pass the
    simulator's clock)."""

    name: ClassVar[str] = "kis"
    capabilities: ClassVar[dict[str, Any]] = {
        "paper": True,
        "order_types": ("limit", "market"),
        "requests_per_second": {"real": 20, "paper": 2},
        "fills": "cumulative",          # daily-ccld gives one cumulative fill per order
        "client_order_id": False,       # KIS keeps none; find_order matches the recorded request to today's orders
        "find_order": True,
        "modify_creates_new_id": True,
        "order_numbers_per_day": True,  # numbering starts again each morning; the listing is today's
        "realtime": "autostock.brokers.kis.stream",
    }

    def __init__(self, settings: Settings, credentials: BrokerCredentials, redis: redis_lib.Redis, *,
                 clock: Callable[[], dt.datetime] = _kst_now, use_hashkey: bool = False,
                 **client_options: Any) -> None:
        self.credentials = credentials
        self.use_hashkey = use_hashkey  # optional at KIS (§1.2): one more call per order
        self.client = KisClient(settings, credentials, redis, **client_options)
        self._clock = clock
        self._branches: dict[str, str] = {}
        self._lost = LostOrders()
        self._lock = threading.Lock()

    def _account(self) -> dict[str, str]:
        cano, prdt = parse.split_account(self.credentials.account_number)
        return {"CANO": cano, "ACNT_PRDT_CD": prdt}

    def _today(self) -> str:
        return self._clock().astimezone(parse.SEOUL).strftime("%Y%m%d")

    # ---- account ------------------------------------------------------------------------
    def connect(self) -> None:
        self.client.token()

    def account_info(self) -> AccountInfo:
        cano, prdt = parse.split_account(self.credentials.account_number)
        return AccountInfo("kis", f"{cano[:4]}****-{prdt}", self.credentials.paper)

    def _balance_pages(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        params = {**self._account(), "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02", "UNPR_DVSN": "01",
                  "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00"}
        return self.client.get_pages(BALANCE, "TTTC8434R", params, "output1")

    def balance(self) -> Balance:
        _, last = self._balance_pages()
        summary = (last.get("output2") or [{}])[0]
        buyable, _ = self.client.get(BUYABLE, "TTTC8908R", {
            **self._account(), "PDNO": "", "ORD_UNPR": "", "ORD_DVSN": "01", "CMA_EVLU_AMT_ICLD_YN": "N",
            "OVRS_ICLD_YN": "N"})
        return parse.balance(summary, buyable.get("output") or {})

    def buyable_quantity(self, symbol: str, price: int = 0) -> int:
        """Shares of `symbol` buyable with cash alone (`nrcvb_buy_qty`; market when price is 0)."""
        body, _ = self.client.get(BUYABLE, "TTTC8908R", {
            **self._account(), "PDNO": self._symbol(symbol), "ORD_UNPR": str(price) if price else "",
            "ORD_DVSN": "00" if price else "01", "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"})
        return parse.num((body.get("output") or {}).get("nrcvb_buy_qty"))

    def positions(self) -> list[Position]:
        rows, _ = self._balance_pages()
        return parse.positions(rows)

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
        path_tr = "TTTC0012U" if request.side.value == "buy" else "TTTC0011U"
        try:
            body = self.client.post_order(ORDER_CASH, path_tr,
                                          parse.order_body(request, self.credentials.account_number),
                                          hashkey=self.use_hashkey)
        except UnknownOutcome as e:
            e.details.update(client_order_id=request.client_order_id, side=request.side.value,
                             quantity=request.quantity, price=request.price)
            raise
        result = parse.ack(body.get("output") or {}, self._clock().date())
        self._remember(result, body, request.client_order_id)
        return result

    def _remember(self, result: OrderAck, body: dict[str, Any], client_order_id: str = "") -> None:
        self._lost.acked(result.broker_order_id, client_order_id)
        with self._lock:
            self._branches[result.broker_order_id] = str((body.get("output") or {}).get("KRX_FWDG_ORD_ORGNO", ""))

    def _branch(self, order_id: str) -> str:
        branch = self._branches.get(order_id)
        if branch:
            return branch
        row = self._row(order_id)
        return str(row.get("ord_gno_brno", ""))

    def _revise(self, order_id: str, *, cancel: bool, quantity: int | None, price: int) -> OrderAck:
        body = parse.revise_body(self.credentials.account_number, self._branch(order_id), order_id,
                                 cancel=cancel, quantity=quantity, price=price)
        answer = self.client.post_order(REVISE, "TTTC0013U", body)
        result = parse.ack(answer.get("output") or {}, self._clock().date())
        self._remember(result, answer)
        return result

    def modify_order(self, broker_order_id: str, quantity: int, price: int) -> OrderAck:
        if quantity <= 0 or price <= 0:
            raise ValidationError("a modify needs a positive quantity and price")
        return self._revise(broker_order_id, cancel=False, quantity=quantity, price=price)

    def cancel_order(self, broker_order_id: str, quantity: int | None = None) -> OrderAck:
        if quantity is not None and quantity <= 0:
            raise ValidationError("cancel quantity must be positive")
        return self._revise(broker_order_id, cancel=True, quantity=quantity, price=0)

    def _ccld(self, **filters: str) -> list[dict[str, Any]]:
        today = self._today()
        params = {**self._account(), "INQR_STRT_DT": today, "INQR_END_DT": today, "SLL_BUY_DVSN_CD": "00",
                  "PDNO": "", "CCLD_DVSN": "00", "INQR_DVSN": "01", "INQR_DVSN_3": "00", "ORD_GNO_BRNO": "",
                  "ODNO": "", "INQR_DVSN_1": "", "EXCG_ID_DVSN_CD": "KRX", **filters}
        rows, _ = self.client.get_pages(DAILY_CCLD, "TTTC0081R", params, "output1")
        return rows

    def _row(self, order_id: str) -> dict[str, Any]:
        for row in self._ccld(ODNO=order_id):
            if str(row.get("odno")) == order_id:
                return row
        raise NotFound("no such order today at KIS", details={"broker_order_id": order_id})

    def order_status(self, broker_order_id: str) -> OrderStatus:
        return parse.order_status(self._row(broker_order_id))

    def orders_today(self) -> list[OrderStatus]:
        return [parse.order_status(r) for r in self._ccld() if r.get("cncl_yn") != "Y"]

    def find_order(self, client_order_id: str, sent: OrderRequest | None = None,
                   known: Collection[str] = ()) -> OrderStatus | None:
        """The order sent as `client_order_id` whose answer was lost: the newest of today's orders
        with the same symbol, side, quantity and price that no acknowledgement explains."""
        return self._lost.find(client_order_id, self.orders_today, sent=sent, known=known)

    # ---- market data --------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote:
        """Two reads: inquire-price has no bid/ask, the asking-price TR has no limits."""
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": self._symbol(symbol)}
        price, _ = self.client.get(PRICE, "FHKST01010100", params)
        book, _ = self.client.get(BOOK, "FHKST01010200", params)
        return parse.quote(symbol, price.get("output") or {}, book.get("output1") or {})

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        """Bars from `start` to `end`, fetched newest-first in windows of ≤100 rows."""
        self._symbol(symbol)
        if start > end:
            raise ValidationError("start is after end")
        bars: dict[dt.date, DailyBar] = {}
        upto = end
        while upto >= start:
            body, _ = self.client.get(CHART, "FHKST03010100", {
                "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": symbol, "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                "FID_INPUT_DATE_2": upto.strftime("%Y%m%d"), "FID_PERIOD_DIV_CODE": "D", "FID_ORG_ADJ_PRC": "0"})
            chunk = parse.daily_bars(body.get("output2") or [])
            bars.update((b.date, b) for b in chunk)
            if len(chunk) < 100:
                break
            upto = chunk[0].date - dt.timedelta(days=1)
        return [bars[d] for d in sorted(bars) if start <= d <= end]

    def approval_key(self) -> str:
        """For `kis.stream.KisStream`."""
        return self.client.approval_key()

    def close(self) -> None:
        self.client.close()
