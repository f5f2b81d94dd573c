"""Kiwoom payloads → our typed values, and our requests → Kiwoom bodies. Pure functions.

Every value is a string; numbers may be zero-padded ("000000070000") and prices signed
("+70100", "-69900": the sign is the direction against the previous close, §3.3), so
prices are read as absolute values. Balance codes may carry an `A` prefix (obs, §3.6).
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
TRADE_TYPE = {OrderType.LIMIT: "0", OrderType.MARKET: "3"}


def num(value: Any) -> int:
    return whole(value, "Kiwoom")


def price(value: Any) -> int:
    return abs(num(value))


def code(symbol: Any) -> str:
    text = str(symbol or "").strip().split("_")[0]
    return text[1:] if len(text) == 7 and text[0] == "A" else text


def order_body(request: OrderRequest) -> dict[str, str]:
    """kt10000/kt10001: every field a string (an int `ord_qty` is refused with 1517)."""
    return {"dmst_stex_tp": "KRX", "stk_cd": request.symbol, "ord_qty": str(request.quantity),
            "ord_uv": str(request.price) if request.order_type == OrderType.LIMIT else "",
            "trde_tp": TRADE_TYPE[request.order_type], "cond_uv": ""}


def ack(data: dict[str, Any], at: dt.datetime) -> OrderAck:
    order_no = str(data.get("ord_no") or "").strip()
    if not order_no:
        raise BrokerUnavailable("Kiwoom accepted an order without an order number")
    return OrderAck(order_no, at, raw=dict(data))


def _time(today: dt.date, hhmmss: str) -> dt.datetime | None:
    try:
        return dt.datetime.combine(today, dt.datetime.strptime(hhmmss[:6], "%H%M%S").time(), SEOUL)
    except ValueError:
        return None


def is_cancel_record(row: dict[str, Any]) -> bool:
    """A cancel's own confirmation row (`io_tp_nm` "+매수취소"), not an order of ours."""
    return "취소" in str(row.get("io_tp_nm", ""))


def order_status(row: dict[str, Any], today: dt.date) -> OrderStatus:
    """One ka10075 (oso) or ka10076 (cntr) row; fills are cumulative per order."""
    order_no = str(row.get("ord_no", ""))
    qty, filled, remaining = num(row.get("ord_qty")), num(row.get("cntr_qty")), num(row.get("oso_qty"))
    side = Side.SELL if "매도" in str(row.get("io_tp_nm", "")) else Side.BUY
    avg = price(row.get("cntr_pric"))
    symbol = code(row.get("stk_cd"))
    fills = (Fill(order_no, f"{order_no}:{filled}", symbol, side, filled, avg,
                  _time(today, str(row.get("tm") or row.get("ord_tm") or ""))),) if filled else ()
    if qty and filled >= qty:
        state = OrderState.FILLED
    elif remaining == 0:
        state = OrderState.CANCELLED
    else:
        state = OrderState.PARTIALLY_FILLED if filled else OrderState.ACCEPTED
    return OrderStatus(order_no, symbol, side, OrderType.MARKET if "시장가" in str(row.get("trde_tp", ""))
                       else OrderType.LIMIT, qty, price(row.get("ord_pric")), filled, avg, state,
                       cancelled_quantity=max(0, qty - filled - remaining), fills=fills,
                       reason=str(row.get("ord_stt", "")),
                       replaces="" if is_cancel_record(row) else str(row.get("orig_ord_no") or ""))


def positions(rows: list[dict[str, Any]]) -> list[Position]:
    return [Position(code(r.get("stk_cd")), num(r.get("rmnd_qty")), price(r.get("pur_pric")),
                     num(r.get("trde_able_qty")), str(r.get("stk_nm", "")).strip(), price(r.get("cur_prc")))
            for r in rows if num(r.get("rmnd_qty")) > 0]


def balance(deposit: dict[str, Any], evaluation: dict[str, Any]) -> Balance:
    """kt00001 (entr cash, ord_alow_amt orderable, d1/d2) and kt00018 (prsm_dpst_aset_amt)."""
    return Balance(cash=num(deposit.get("entr")), buying_power=num(deposit.get("ord_alow_amt")),
                   total_equity=num(evaluation.get("prsm_dpst_aset_amt")),
                   settlement_d1=num(deposit.get("d1_entra")), settlement_d2=num(deposit.get("d2_entra")))


def quote(symbol: str, data: dict[str, Any], book: dict[str, Any]) -> Quote:
    return Quote(symbol, price(data.get("cur_prc")), bid=price(book.get("buy_fpr_bid")),
                 ask=price(book.get("sel_fpr_bid")), volume=num(data.get("trde_qty")),
                 previous_close=price(data.get("base_pric")), upper_limit=price(data.get("upl_pric")),
                 lower_limit=price(data.get("lst_pric")), at=dt.datetime.now(SEOUL))


def daily_bars(rows: list[dict[str, Any]]) -> list[DailyBar]:
    bars = []
    for r in rows:
        day = str(r.get("dt", ""))
        if len(day) != 8 or not day.isdigit():
            continue
        bars.append(DailyBar(dt.date(int(day[:4]), int(day[4:6]), int(day[6:])), price(r.get("open_pric")),
                             price(r.get("high_pric")), price(r.get("low_pric")), price(r.get("cur_prc")),
                             num(r.get("trde_qty"))))
    return sorted(bars, key=lambda b: b.date)
