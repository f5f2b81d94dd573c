"""LS payloads → our typed values, and our requests → LS InBlocks. Pure functions.

LS sends numbers as JSON numbers, fixed-decimal prices as strings ("35000.00"); symbols may
carry the `A` prefix (§2.5, §4.5). Money is truncated to the won.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from autostock.brokers.base import (Balance, DailyBar, Fill, OrderAck, OrderRequest, OrderState, OrderStatus,
                                    OrderType, Position, Quote, Side)
from autostock.brokers.numbers import whole
from autostock.errors import BrokerUnavailable

SEOUL = ZoneInfo("Asia/Seoul")
PRICE_TYPE = {OrderType.LIMIT: "00", OrderType.MARKET: "03"}
CANCEL_RECORD = "취소확인"      # t0425 status of a cancel's own row (not an order of ours)


def num(value: Any) -> int:
    return whole(value, "LS")


def code(symbol: Any) -> str:
    """`A005930` / `005930` → `005930`."""
    text = str(symbol or "").strip()
    return text[1:] if len(text) == 7 and text[0] in "AJQ" else text


def isu_no(symbol: str) -> str:
    """The `IsuNo` form: `A`+code, which paper requires and real accepts (§2.5)."""
    return "A" + symbol


def order_block(request: OrderRequest) -> dict[str, Any]:
    return {"IsuNo": isu_no(request.symbol), "OrdQty": request.quantity,
            "OrdPrc": request.price if request.order_type == OrderType.LIMIT else 0,
            "BnsTpCode": "2" if request.side == Side.BUY else "1", "OrdprcPtnCode": PRICE_TYPE[request.order_type],
            "MgntrnCode": "000", "LoanDt": "", "OrdCndiTpCode": "0", "MbrNo": "KRX"}


def _kst_time(today: dt.date, hhmmss: str) -> dt.datetime | None:
    try:
        return dt.datetime.combine(today, dt.datetime.strptime(hhmmss[:6], "%H%M%S").time(), SEOUL)
    except ValueError:
        return None


def ack(out: dict[str, Any], today: dt.date) -> OrderAck:
    """OutBlock2 of CSPAT00601/00701/00801: `OrdNo` (a number) and `OrdTime` HHMMSSmmm."""
    order_no = num(out.get("OrdNo"))
    if order_no <= 0:
        raise BrokerUnavailable("LS accepted an order without an order number", details={"OrdNo": out.get("OrdNo")})
    return OrderAck(str(order_no), _kst_time(today, str(out.get("OrdTime", ""))), raw=dict(out))


def _state(qty: int, filled: int, remaining: int) -> OrderState:
    if qty and filled >= qty:
        return OrderState.FILLED
    if remaining == 0 and qty > filled:
        return OrderState.CANCELLED
    return OrderState.PARTIALLY_FILLED if filled else OrderState.ACCEPTED


def order_status(row: dict[str, Any], today: dt.date) -> OrderStatus:
    """One t0425 OutBlock1 row. LS gives cumulative fills per order (`cheqty` at the average
    `cheprice`), so the one Fill's id changes as the quantity grows."""
    order_no = str(num(row.get("ordno")))
    qty, filled, remaining = num(row.get("qty")), num(row.get("cheqty")), num(row.get("ordrem"))
    side = Side.SELL if "매도" in str(row.get("medosu", "")) else Side.BUY
    avg = num(row.get("cheprice"))
    symbol = code(row.get("expcode"))
    at = _kst_time(today, str(row.get("ordtime", "")))
    fills = (Fill(order_no, f"{order_no}:{filled}", symbol, side, filled, avg, at),) if filled else ()
    return OrderStatus(order_no, symbol, side, OrderType.MARKET if row.get("hogagb") == "03" else OrderType.LIMIT,
                       qty, num(row.get("price")), filled, avg, _state(qty, filled, remaining),
                       cancelled_quantity=max(0, qty - filled - remaining), fills=fills,
                       reason=str(row.get("status", "")),
                       # ordgb 02: a modify (01 new, 03 cancel), which names the order it replaced
                       replaces=str(num(row.get("orgordno"))) if str(row.get("ordgb")) == "02" else "")


def positions(rows: list[dict[str, Any]]) -> list[Position]:
    return [Position(code(r.get("expcode")), num(r.get("janqty")), num(r.get("pamt")), num(r.get("mdposqt")),
                     str(r.get("hname", "")), num(r.get("price")))
            for r in rows if num(r.get("janqty")) > 0]


def balance(out: dict[str, Any]) -> Balance:
    """CSPAQ12200 OutBlock2: Dps cash, MnyOrdAbleAmt orderable cash, D1Dps/D2Dps settlements."""
    return Balance(cash=num(out.get("Dps")), buying_power=num(out.get("MnyOrdAbleAmt")),
                   total_equity=num(out.get("DpsastTotamt")), settlement_d1=num(out.get("D1Dps")),
                   settlement_d2=num(out.get("D2Dps")))


def quote(symbol: str, out: dict[str, Any], book: dict[str, Any]) -> Quote:
    return Quote(symbol, num(out.get("price")), bid=num(book.get("bidho1")), ask=num(book.get("offerho1")),
                 volume=num(out.get("volume")),
                 previous_close=num(out.get("recprice") or out.get("jnilclose")),
                 upper_limit=num(out.get("uplmtprice")), lower_limit=num(out.get("dnlmtprice")),
                 at=dt.datetime.now(SEOUL))


def daily_bars(rows: list[dict[str, Any]]) -> list[DailyBar]:
    bars = []
    for r in rows:
        day = str(r.get("date", ""))
        if len(day) != 8 or not day.isdigit():
            continue
        bars.append(DailyBar(dt.date(int(day[:4]), int(day[4:6]), int(day[6:])), num(r.get("open")),
                             num(r.get("high")), num(r.get("low")), num(r.get("close")), num(r.get("jdiff_vol"))))
    return sorted(bars, key=lambda b: b.date)
