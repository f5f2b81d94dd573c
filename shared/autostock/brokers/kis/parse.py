"""KIS payloads → our typed values, and our requests → KIS order bodies. Pure functions.

KIS sends numbers as strings, some with decimals (`pchs_avg_pric` "70100.0000"); money is
truncated to the won. Field meanings: docs/brokers.md §1.6.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from autostock.brokers.base import (Balance, DailyBar, Fill, OrderAck, OrderRequest, OrderState, OrderStatus,
                                    OrderType, Position, Quote, Side)
from autostock.errors import BrokerUnavailable

SEOUL = ZoneInfo("Asia/Seoul")
ORD_DVSN = {OrderType.LIMIT: "00", OrderType.MARKET: "01"}
SIDE_CODE = {"01": Side.SELL, "02": Side.BUY}


def num(value: Any) -> int:
    """A KIS numeric string as an int, truncated toward zero; blank → 0."""
    if value is None or value == "":
        return 0
    try:
        return int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError) as e:
        raise BrokerUnavailable("KIS sent a malformed number", details={"value": str(value)[:20]}) from e


def split_account(account_number: str) -> tuple[str, str]:
    """"50123456-01" → ("50123456", "01"); a bare 10-digit number splits 8 + 2."""
    digits = account_number.replace("-", "")
    return digits[:8], digits[8:10] or "01"


def order_body(request: OrderRequest, account_number: str) -> dict[str, str]:
    cano, prdt = split_account(account_number)
    return {"CANO": cano, "ACNT_PRDT_CD": prdt, "PDNO": request.symbol, "ORD_DVSN": ORD_DVSN[request.order_type],
            "ORD_QTY": str(request.quantity),
            "ORD_UNPR": str(request.price if request.order_type == OrderType.LIMIT else 0),
            "EXCG_ID_DVSN_CD": "KRX"}


def revise_body(account_number: str, branch: str, order_id: str, *, cancel: bool, quantity: int | None,
                price: int) -> dict[str, str]:
    cano, prdt = split_account(account_number)
    return {"CANO": cano, "ACNT_PRDT_CD": prdt, "KRX_FWDG_ORD_ORGNO": branch, "ORGN_ODNO": order_id,
            "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "02" if cancel else "01",
            "ORD_QTY": str(quantity or 0), "ORD_UNPR": str(price),
            "QTY_ALL_ORD_YN": "Y" if quantity is None else "N", "EXCG_ID_DVSN_CD": "KRX"}


def kst(day: str, hhmmss: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(day + hhmmss, "%Y%m%d%H%M%S").replace(tzinfo=SEOUL)
    except ValueError:
        return None


def ack(output: dict[str, Any], today: dt.date) -> OrderAck:
    return OrderAck(str(output.get("ODNO", "")), kst(today.strftime("%Y%m%d"), str(output.get("ORD_TMD", ""))),
                    raw=dict(output))


def _state(row: dict[str, Any], qty: int, filled: int, remaining: int) -> OrderState:
    if row.get("cncl_yn") == "Y":
        return OrderState.CANCELLED
    if num(row.get("rjct_qty")) > 0:
        return OrderState.REJECTED
    if qty and filled >= qty:
        return OrderState.FILLED
    if remaining == 0 and qty > filled:
        return OrderState.CANCELLED
    return OrderState.PARTIALLY_FILLED if filled else OrderState.ACCEPTED


def order_status(row: dict[str, Any]) -> OrderStatus:
    """One inquire-daily-ccld row. KIS aggregates fills per order: the one Fill carries the
    cumulative quantity at the average price, and its id changes as the quantity grows."""
    odno = str(row.get("odno", ""))
    qty, filled, remaining = num(row.get("ord_qty")), num(row.get("tot_ccld_qty")), num(row.get("rmn_qty"))
    side = SIDE_CODE.get(str(row.get("sll_buy_dvsn_cd")), Side.BUY)
    avg = num(row.get("avg_prvs"))
    cancelled = qty if row.get("cncl_yn") == "Y" else max(0, qty - filled - remaining)
    at = kst(str(row.get("ord_dt", "")), str(row.get("ord_tmd", "")))
    fills = (Fill(odno, f"{odno}:{filled}", str(row.get("pdno", "")), side, filled, avg, at),) if filled else ()
    return OrderStatus(odno, str(row.get("pdno", "")), side,
                       OrderType.MARKET if row.get("ord_dvsn_cd") == "01" else OrderType.LIMIT,
                       qty, num(row.get("ord_unpr")), filled, avg, _state(row, qty, filled, remaining),
                       cancelled_quantity=cancelled, fills=fills,
                       reason="cancel request" if row.get("cncl_yn") == "Y" else "",
                       replaces="" if row.get("cncl_yn") == "Y" else str(row.get("orgn_odno") or ""))


def positions(rows: list[dict[str, Any]]) -> list[Position]:
    return [Position(str(r.get("pdno", "")), num(r.get("hldg_qty")), num(r.get("pchs_avg_pric")),
                     num(r.get("ord_psbl_qty")), str(r.get("prdt_name", "")), num(r.get("prpr")))
            for r in rows if num(r.get("hldg_qty")) > 0]


def balance(summary: dict[str, Any], buyable: dict[str, Any]) -> Balance:
    return Balance(cash=num(summary.get("dnca_tot_amt")), buying_power=num(buyable.get("ord_psbl_cash")),
                   total_equity=num(summary.get("tot_evlu_amt")), settlement_d1=num(summary.get("nxdy_excc_amt")),
                   settlement_d2=num(summary.get("prvs_rcdl_excc_amt")))


def quote(symbol: str, out: dict[str, Any], book: dict[str, Any]) -> Quote:
    """inquire-price `output` plus the best bid/ask of inquire-asking-price-exp-ccn `output1`."""
    last = num(out.get("stck_prpr"))
    return Quote(symbol, last, bid=num(book.get("bidp1")), ask=num(book.get("askp1")), volume=num(out.get("acml_vol")),
                 previous_close=last - num(out.get("prdy_vrss")), upper_limit=num(out.get("stck_mxpr")),
                 lower_limit=num(out.get("stck_llam")), at=dt.datetime.now(SEOUL))


def daily_bars(rows: list[dict[str, Any]]) -> list[DailyBar]:
    """output2 rows (newest first) → bars oldest first; blank padding rows are skipped."""
    bars = []
    for r in rows:
        day = str(r.get("stck_bsop_date", ""))
        if len(day) != 8:
            continue
        bars.append(DailyBar(dt.date(int(day[:4]), int(day[4:6]), int(day[6:])), num(r.get("stck_oprc")),
                             num(r.get("stck_hgpr")), num(r.get("stck_lwpr")), num(r.get("stck_clpr")),
                             num(r.get("acml_vol"))))
    return sorted(bars, key=lambda b: b.date)
