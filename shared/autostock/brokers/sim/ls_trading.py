"""The LS simulator's TRs (docs/brokers.md §2.4-2.7): CSPAT00601/00701/00801 orders, t0424
balance, t0425 orders/fills, CSPAQ12200 deposit, CSPBQ00200 orderable qty, t1102 price and
t8410 daily chart. Numbers travel as JSON numbers except fixed-decimal prices ("70100.00").

Codes from the doc dump: 00000/00136 query done, 00040 buy accepted, 00132 modify done, 00156
cancel done, 03181 below the lower limit. The others (sell accepted 00039, the remaining
business rejections) are the simulator's picks: LS's exact codes are unconfirmed (§2.3).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from autostock.brokers.sim.exchange import SimOrder, SimReject
from autostock.brokers.sim.feed import SEOUL
from autostock.brokers.sim.http import DropConnection, SimResponse
from autostock.brokers.sim.tr_server import TrContext, TrHandler, daily_bars, holdings

PAGE = 20                       # rows per t0424/t0425 page (the simulator's choice)
REJECTS = {
    "funds": ("02714", "주문가능금액이 부족합니다."),
    "holdings": ("02705", "주문가능수량이 부족합니다."),
    "tick": ("02561", "호가단위가 맞지 않습니다."),
    "price_band": ("03180", "주문가격이 상한가 초과입니다."),
    "quantity": ("01209", "주문수량이 올바르지 않습니다."),
    "not_found": ("02258", "원주문번호를 잘못 입력하셨습니다."),
    "not_open": ("02260", "정정/취소 가능수량이 없습니다."),
    "unknown_symbol": ("01901", "종목코드가 올바르지 않습니다."),
    "unknown_account": ("01796", "계좌번호가 올바르지 않습니다."),
    "session": ("03563", "장운영시간이 아닙니다."),
}
BELOW_LOWER = ("03181", "주문가격이 하한가 미달입니다.")
PAPER_PREFIX = ("01907", "모의투자는 종목코드 앞에 A를 붙여야 합니다.")


def answer(ctx: TrContext, code: str, message: str, *, cont_key: str = "", **blocks: Any) -> SimResponse:
    """An LS envelope; paper texts say 모의투자 (how SDKs tell paper apart, §2.1)."""
    if ctx.paper and "모의투자" not in message:
        message = "모의투자 " + message
    tr = ctx.request.headers.get("tr_cd", "")
    headers = {"tr_cd": tr, "tr_cont": "Y" if cont_key else "N", "tr_cont_key": cont_key}
    return SimResponse(200, {**blocks, "rsp_cd": code, "rsp_msg": message}, headers)


def _reject(ctx: TrContext, e: SimReject, price: int = 0, symbol: str = "") -> SimResponse:
    code = REJECTS.get(e.reason, ("09999", e.message))
    if e.reason == "price_band" and symbol in ctx.exchange.instruments \
            and price < ctx.exchange.instruments[symbol].limits[0]:
        code = BELOW_LOWER
    return answer(ctx, *code)


def _inblock(body: dict[str, Any], tr: str) -> dict[str, Any]:
    block = body.get(f"{tr}InBlock1", body.get(f"{tr}InBlock"))
    if not isinstance(block, dict):
        raise SimReject("quantity", f"{tr}InBlock 누락")
    return block


def _int(block: dict[str, Any], key: str) -> int:
    value = block.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("-").isdigit():
        raise SimReject("quantity", f"{key} 값이 올바르지 않습니다.")
    return int(value)


def _symbol(ctx: TrContext, isu: Any) -> str:
    """`A005930` → `005930`; paper requires the A prefix (§2.5)."""
    isu = str(isu or "")
    if ctx.paper and not isu.startswith("A"):
        raise SimReject("paper_prefix", PAPER_PREFIX[1])
    return isu[1:] if len(isu) == 7 and isu[0] in "AJQ" else isu


def _time(at: dt.datetime, millis: bool = True) -> str:
    kst = at.astimezone(SEOUL)
    return kst.strftime("%H%M%S") + (f"{kst.microsecond // 1000:03d}" if millis else f"{kst.microsecond // 10000:02d}")


def _order_out(ctx: TrContext, order: SimOrder, **extra: Any) -> dict[str, Any]:
    inst = ctx.exchange.instruments[order.symbol]
    return {"OrdNo": order.order_id, "OrdTime": _time(order.at), "OrdMktCode": "10",
            "OrdPtnCode": "02" if order.side == "buy" else "01", "ShtnIsuNo": "A" + order.symbol,
            "MgempNo": "", "OrdAmt": order.quantity * order.price, "SpareOrdNo": 0, "CvrgSeqno": 0,
            "RsvOrdNo": 0, "SpotOrdQty": order.quantity, "RuseOrdQty": 0, "MnyOrdAmt": order.quantity * order.price,
            "SubstOrdAmt": 0, "RuseOrdAmt": 0, "AcntNm": "시뮬레이터", "IsuNm": inst.name, **extra}


def _run(ctx: TrContext, tr: str, body: dict[str, Any], act: Any) -> SimResponse:
    """Parse the InBlock, call `act(block) -> (order, code, message)`, wrap the answer."""
    try:
        block = _inblock(body, tr)
        order, code, message, extra = act(block)
    except SimReject as e:
        if e.reason == "paper_prefix":
            return answer(ctx, *PAPER_PREFIX)
        block = body.get(f"{tr}InBlock1") or {}
        price = _int(block, "OrdPrc") if str(block.get("OrdPrc", "x")).isdigit() else 0
        return _reject(ctx, e, price, str(block.get("IsuNo", ""))[-6:])
    echo = {**block, "AcntNo": ctx.account, "InptPwd": "********"}
    return answer(ctx, code, message, **{f"{tr}OutBlock1": echo, f"{tr}OutBlock2": _order_out(ctx, order, **extra)})


def cspat00601(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    def act(b: dict[str, Any]) -> tuple[SimOrder, str, str, dict[str, Any]]:
        symbol = _symbol(ctx, b.get("IsuNo"))
        qty, price = _int(b, "OrdQty"), _int(b, "OrdPrc")
        side = {"1": "sell", "2": "buy"}.get(str(b.get("BnsTpCode")))
        kind = {"00": "limit", "03": "market"}.get(str(b.get("OrdprcPtnCode")))
        if side is None or kind is None:
            raise SimReject("quantity", "BnsTpCode/OrdprcPtnCode: 00 지정가와 03 시장가만 지원합니다.")
        armed = ctx.faults.take("reject")
        if armed is not None:
            raise SimReject("armed", armed.get("message", "주문이 거부되었습니다."))
        order = ctx.exchange.submit(ctx.account, symbol, side, qty, kind, price if kind == "limit" else 0)
        if ctx.faults.take("drop_after_order") is not None:
            raise DropConnection  # the order stands; the answer is lost
        code, msg = ("00040", "매수 주문이 완료되었습니다.") if side == "buy" else \
            ("00039", "매도 주문이 완료되었습니다.")
        return order, code, msg, {}
    return _run(ctx, "CSPAT00601", body, act)


def cspat00701(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    def act(b: dict[str, Any]) -> tuple[SimOrder, str, str, dict[str, Any]]:
        _symbol(ctx, b.get("IsuNo"))
        if str(b.get("OrdprcPtnCode", "00")) != "00":
            raise SimReject("quantity", "정정은 지정가(00)만 지원합니다.")
        order = ctx.exchange.modify(ctx.account, _int(b, "OrgOrdNo"), _int(b, "OrdQty"), _int(b, "OrdPrc"))
        return order, "00132", "정정주문이 완료되었습니다.", {"PrntOrdNo": order.original_id}
    return _run(ctx, "CSPAT00701", body, act)


def cspat00801(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    def act(b: dict[str, Any]) -> tuple[SimOrder, str, str, dict[str, Any]]:
        _symbol(ctx, b.get("IsuNo"))
        order = ctx.exchange.cancel(ctx.account, _int(b, "OrgOrdNo"), _int(b, "OrdQty"))
        return order, "00156", "취소주문이 완료되었습니다.", {"PrntOrdNo": order.original_id}
    return _run(ctx, "CSPAT00801", body, act)


def _cont(ctx: TrContext, block: dict[str, Any], field: str) -> str:
    """The continuation cursor: the InBlock's cts_* field on a `tr_cont: Y` request."""
    if ctx.request.headers.get("tr_cont") != "Y":
        return ""
    return str(block.get(field) or ctx.request.headers.get("tr_cont_key", "")).strip()


def _status(o: SimOrder) -> str:
    if o.kind == "cancel":
        return "취소확인"
    if o.filled and not o.remaining and not o.cancelled:
        return "체결"
    if o.cancelled and not o.remaining:
        return "취소"
    return "부분체결" if o.filled else "접수"


def _t0425_row(ctx: TrContext, o: SimOrder) -> dict[str, Any]:
    inst = ctx.exchange.instruments[o.symbol]
    return {"ordno": o.order_id, "expcode": o.symbol, "medosu": "매수" if o.side == "buy" else "매도",
            "qty": o.quantity, "price": o.price, "cheqty": o.filled, "cheprice": o.average_price,
            "ordrem": 0 if o.kind == "cancel" else o.remaining,
            "cfmqty": o.quantity if o.kind == "cancel" else 0, "status": _status(o),
            "orgordno": o.original_id, "ordgb": {"new": "01", "modify": "02", "cancel": "03"}[o.kind],
            "ordtime": _time(o.at, millis=False), "ordermtd": "OPENAPI",
            "hogagb": "00" if o.order_type == "limit" else "03", "price1": inst.last, "orggb": "02",
            "singb": "00", "exchname": "KRX"}


def t0425(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    b = body.get("t0425InBlock") or {}
    side = {"1": "sell", "2": "buy"}.get(str(b.get("medosu", "0")))
    chegb = str(b.get("chegb", "0"))
    orders = [o for o in ctx.exchange.day_orders(ctx.account)
              if (not b.get("expcode") or o.symbol == str(b["expcode"])[-6:]) and (not side or o.side == side)
              and (chegb != "1" or o.filled) and (chegb != "2" or (o.remaining and o.kind != "cancel"))]
    orders.sort(key=lambda o: o.order_id, reverse=str(b.get("sortgb", "1")) == "1")
    cursor = _cont(ctx, b, "cts_ordno")
    if cursor.isdigit():
        after = int(cursor)
        orders = [o for o in orders if (o.order_id < after if str(b.get("sortgb", "1")) == "1" else o.order_id > after)]
    page, more = orders[:PAGE], len(orders) > PAGE
    cts = str(page[-1].order_id) if more else ""
    every = ctx.exchange.day_orders(ctx.account)
    acct = ctx.exchange.account(ctx.account)
    totals = {"tqty": sum(o.quantity for o in every if o.kind != "cancel"), "tcheqty": sum(o.filled for o in every),
              "tordrem": sum(o.remaining for o in every if o.kind != "cancel"), "cmss": acct.costs_today,
              "tamt": sum(o.fill_value for o in every),
              "tmdamt": sum(o.fill_value for o in every if o.side == "sell"),
              "tmsamt": sum(o.fill_value for o in every if o.side == "buy"), "tax": 0, "cts_ordno": cts}
    return answer(ctx, "00000", "조회가 완료되었습니다.", cont_key=cts, t0425OutBlock=totals,
                  t0425OutBlock1=[_t0425_row(ctx, o) for o in page])


def t0424(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    b = body.get("t0424InBlock") or {}
    acct = ctx.exchange.account(ctx.account)
    rows, cost_total, value_total = [], 0, 0
    for h, inst, value in holdings(ctx.exchange, ctx.account):
        cost_total, value_total = cost_total + h.cost, value_total + value
        rows.append({"expcode": inst.symbol, "jangb": "K", "janqty": h.quantity, "mdposqt": h.quantity - h.reserved,
                     "pamt": h.average_price, "mamt": h.cost, "sinamt": 0, "lastdt": "", "msat": 0, "mpms": 0,
                     "mdat": 0, "mpmd": 0, "jsat": 0, "jpms": 0, "jdat": 0, "jpmd": 0, "sysprocseq": 0,
                     "loandt": "", "hname": inst.name, "marketgb": "1", "jonggb": "3", "janrt": 0.0,
                     "price": inst.last, "appamt": value, "dtsunik": value - h.cost,
                     "sunikrt": round((value - h.cost) * 100 / h.cost, 2) if h.cost else 0.0, "fee": 0, "tax": 0,
                     "sininter": 0})
    cursor = _cont(ctx, b, "cts_expcode")
    if cursor:
        rows = [r for r in rows if r["expcode"] > cursor]
    page, more = rows[:PAGE], len(rows) > PAGE
    cts = page[-1]["expcode"] if more else ""
    summary = {"sunamt": acct.cash + value_total, "dtsunik": 0, "mamt": cost_total, "sunamt1": acct.cash,
               "cts_expcode": cts, "tappamt": value_total, "tdtsunik": value_total - cost_total}
    return answer(ctx, "00000", "조회가 완료되었습니다.", cont_key=cts, t0424OutBlock=summary, t0424OutBlock1=page)


def cspaq12200(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    acct = ctx.exchange.account(ctx.account)
    value = sum(v for _, _, v in holdings(ctx.exchange, ctx.account))
    out = {"RecCnt": 1, "BrnNm": "", "AcntNm": "시뮬레이터", "MnyOrdAbleAmt": acct.buying_power,
           "MnyoutAbleAmt": acct.buying_power, "SeOrdAbleAmt": 0, "KdqOrdAbleAmt": 0, "Dps": acct.cash,
           "D1Dps": acct.cash, "D2Dps": acct.cash, "SubstAmt": 0, "BalEvalAmt": value,
           "DpsastTotamt": acct.cash + value, "PnlRat": 0.0, "MgnRat100pctOrdAbleAmt": acct.buying_power,
           "MgnRat35ordAbleAmt": acct.buying_power, "MgnRat50ordAbleAmt": acct.buying_power}
    block = body.get("CSPAQ12200InBlock1") or {}
    return answer(ctx, "00136", "조회가 완료되었습니다.",
                  CSPAQ12200OutBlock1={**block, "AcntNo": ctx.account}, CSPAQ12200OutBlock2=out)


def cspbq00200(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    try:
        b = _inblock(body, "CSPBQ00200")
        inst = ctx.exchange.instrument(_symbol(ctx, b.get("IsuNo")))
        price = _int(b, "OrdPrc") if str(b.get("OrdPrc", "0")) not in ("0", "") else inst.limits[1]
    except SimReject as e:
        return answer(ctx, *PAPER_PREFIX) if e.reason == "paper_prefix" else _reject(ctx, e)
    cash = ctx.exchange.account(ctx.account).buying_power
    qty = cash // price if price > 0 else 0
    while qty and qty * price + ctx.exchange.costs.commission(qty * price) > cash:
        qty -= 1
    out = {"OrdAbleQty": qty, "OrdAbleAmt": qty * price, "MnyOrdAbleAmt": cash, "MgnRat100MnyOrdAbleQty": qty,
           "MgnRat100OrdAbleQty": qty, "IsuMgnRat": 100.0, "AcntMgnRat": 100.0, "CmsnRat": 0.0,
           "PrsmptDpsD1": cash, "PrsmptDpsD2": cash}
    return answer(ctx, "00136", "조회가 완료되었습니다.", CSPBQ00200OutBlock1=b, CSPBQ00200OutBlock2=out)


def t1102(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    try:
        inst = ctx.exchange.instrument(str((body.get("t1102InBlock") or {}).get("shcode", "")))
    except SimReject as e:
        return _reject(ctx, e)
    lower, upper = inst.limits
    change = inst.last - inst.prev_close
    sign = "1" if inst.last >= upper else "4" if inst.last <= lower else "2" if change > 0 else \
        "5" if change < 0 else "3"
    out = {"hname": inst.name, "price": inst.last, "sign": sign, "change": abs(change),
           "diff": f"{change * 100 / inst.prev_close:.2f}", "volume": inst.volume, "value": inst.value // 1_000_000,
           "recprice": inst.prev_close, "jnilclose": inst.prev_close, "uplmtprice": upper, "dnlmtprice": lower,
           "open": inst.open or inst.last, "high": inst.high or inst.last, "low": inst.low or inst.last,
           "jnilvolume": 0, "per": "0.00", "pbrx": "0.00", "memedan": "00001", "jkrate": "20",
           "shcode": inst.symbol, "ex_shcode": "A" + inst.symbol, "svi_uplmtprice": 0, "svi_dnlmtprice": 0}
    return answer(ctx, "00000", "정상적으로 조회가 완료되었습니다.", t1102OutBlock=out)


def t1101(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    """10-level book with the H1_ field names: offerho1..10/bidho1..10 and their rem sizes."""
    try:
        inst = ctx.exchange.instrument(str((body.get("t1101InBlock") or {}).get("shcode", "")))
    except SimReject as e:
        return _reject(ctx, e)
    out: dict[str, Any] = {"hname": inst.name, "price": inst.last, "shcode": inst.symbol,
                           "hotime": _time(ctx.exchange.clock.now(), millis=False)}
    for side, prefix in (("sell", "offer"), ("buy", "bid")):
        levels = ctx.exchange.levels(inst.symbol, side) + [(0, 0)] * 10
        for i, (px, qty) in enumerate(levels[:10], start=1):
            out[f"{prefix}ho{i}"], out[f"{prefix}rem{i}"] = px, qty
        out[f"tot{prefix}rem"] = sum(q for _, q in levels)
    return answer(ctx, "00000", "정상적으로 조회가 완료되었습니다.", t1101OutBlock=out)


def t8410(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    b = body.get("t8410InBlock") or {}
    try:
        inst = ctx.exchange.instrument(str(b.get("shcode", "")))
    except SimReject as e:
        return _reject(ctx, e)
    bars = daily_bars(ctx.exchange, inst)
    start, end = str(b.get("sdate") or "00000000"), str(b.get("edate") or "99999999")
    cursor = _cont(ctx, b, "cts_date")
    upto = min(end, cursor) if cursor else end
    chosen = [x for x in bars
              if start <= x.date.strftime("%Y%m%d") <= upto and (not cursor or x.date.strftime("%Y%m%d") < cursor)]
    count = max(1, min(500, int(b.get("qrycnt") or 500)))
    page = chosen[-count:]
    cts = page[0].date.strftime("%Y%m%d") if len(chosen) > count else ""
    rows = [{"date": x.date.strftime("%Y%m%d"), "open": x.open, "high": x.high, "low": x.low, "close": x.close,
             "jdiff_vol": x.volume, "value": x.volume * x.close // 1_000_000, "jongchk": 0, "rate": 0.0,
             "pricechk": 0, "ratevalue": 0, "sign": "3"} for x in page]
    summary = {"shcode": inst.symbol, "jisiga": inst.prev_close, "jihigh": inst.prev_close, "jilow": inst.prev_close,
               "jiclose": inst.prev_close, "jivolume": 0, "disiga": inst.open or inst.last,
               "dihigh": inst.high or inst.last, "dilow": inst.low or inst.last, "diclose": inst.last,
               "highend": inst.limits[1], "lowend": inst.limits[0], "cts_date": cts, "s_time": "090000",
               "e_time": "153000", "dshmin": "10", "rec_count": len(rows)}
    return answer(ctx, "00000", "조회가 완료되었습니다.", cont_key=cts, t8410OutBlock=summary, t8410OutBlock1=rows)


ROUTES: dict[tuple[str, str], TrHandler] = {
    ("/stock/order", "CSPAT00601"): cspat00601,
    ("/stock/order", "CSPAT00701"): cspat00701,
    ("/stock/order", "CSPAT00801"): cspat00801,
    ("/stock/accno", "t0424"): t0424,
    ("/stock/accno", "t0425"): t0425,
    ("/stock/accno", "CSPAQ12200"): cspaq12200,
    ("/stock/accno", "CSPBQ00200"): cspbq00200,
    ("/stock/market-data", "t1102"): t1102,
    ("/stock/market-data", "t1101"): t1101,
    ("/stock/chart", "t8410"): t8410,
}
