"""The KIS simulator's TRs: cash orders, modify/cancel, daily orders, balance, buyable amount,
current price and daily chart (docs/brokers.md §1.5-1.7). Field names and shapes as KIS sends
them: order bodies UPPERCASE with string values, responses lower-case with string numbers,
`tr_cont` F/M (more) or D/E (last) with `ctx_area_*` cursors.

Business-rejection codes below the funds one (APBK0952, seen in the wild) are the simulator's
own picks: KIS's exact codes for them are unconfirmed (§1.9 "codes vary").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autostock.brokers.sim.exchange import Exchange, SimOrder, SimReject
from autostock.brokers.sim.feed import SEOUL, Faults, synthetic_daily_bars
from autostock.brokers.sim.http import DropConnection, SimRequest, SimResponse

V1 = "/uapi/domestic-stock/v1/"
REJECTS = {
    "funds": ("APBK0952", "주문가능금액을 초과 했습니다"),
    "holdings": ("APBK0400", "주문가능수량을 초과 했습니다"),
    "tick": ("APBK0506", "호가단위가 맞지 않습니다"),
    "price_band": ("APBK0509", "상/하한가 범위를 벗어났습니다"),
    "quantity": ("APBK0507", "주문수량을 확인하세요"),
    "not_found": ("APBK0941", "원주문번호가 존재하지 않습니다"),
    "not_open": ("APBK0942", "정정/취소 가능수량이 없습니다"),
    "unknown_symbol": ("APBK0601", "종목코드를 확인하세요"),
    "unknown_account": ("OPSQ2002", "계좌번호를 확인하세요"),
    "session": ("APBK0918", "장운영시간이 아닙니다"),
}
PAPER_SESSION = {"before": ("40570000", "모의투자 장시작전 입니다."), "after": ("40580000", "모의투자 장종료 입니다.")}
PAPER_UNSUPPORTED = ("90000000", "모의투자에서는 해당업무가 제공되지 않습니다.")


# Rows per page (§1.4): inquire-daily-ccld 100 real / 15 paper, inquire-balance 50 / 20.
PAGE_SIZES = {("ccld", False): 100, ("ccld", True): 15, ("balance", False): 50, ("balance", True): 20}


@dataclass
class Context:
    exchange: Exchange
    account: str
    paper: bool
    faults: Faults
    request: SimRequest
    page_sizes: dict[tuple[str, bool], int] | None = None

    def page_size(self, what: str) -> int:
        return (self.page_sizes or PAGE_SIZES)[(what, self.paper)]


Handler = Callable[[Context, dict[str, Any]], SimResponse]


def ok(msg_cd: str, msg1: str, headers: dict[str, str] | None = None, **outputs: Any) -> SimResponse:
    return SimResponse(200, {"rt_cd": "0", "msg_cd": msg_cd, "msg1": msg1, **outputs}, headers or {})


def reject(msg_cd: str, msg1: str) -> SimResponse:
    return SimResponse(200, {"rt_cd": "1", "msg_cd": msg_cd, "msg1": msg1})


def _rejection(ctx: Context, e: SimReject) -> SimResponse:
    if e.reason == "session" and ctx.paper:
        return reject(*PAPER_SESSION[ctx.exchange.session_phase()])
    return reject(*REJECTS.get(e.reason, ("APBK0999", e.message)))


def _order_output(ctx: Context, order: SimOrder) -> dict[str, str]:
    return {"KRX_FWDG_ORD_ORGNO": _branch(ctx), "ODNO": f"{order.order_id:010d}",
            "ORD_TMD": order.at.astimezone(SEOUL).strftime("%H%M%S")}


def _branch(ctx: Context) -> str:
    return "00950" if ctx.paper else "06010"


def _body_error(body: Any, required: tuple[str, ...]) -> SimResponse | None:
    """KIS wants UPPERCASE keys and string values in order bodies (§1.3)."""
    if not isinstance(body, dict):
        return reject("OPSQ2001", "JSON 본문이 올바르지 않습니다")
    for key, value in body.items():
        if key != key.upper() or not isinstance(value, str):
            return reject("OPSQ2001", f"INPUT_FIELD_NAME {key} 형식 오류 (대문자 키, 문자열 값)")
    missing = [k for k in required if k not in body]
    return reject("OPSQ2001", f"INPUT_FIELD_NAME {missing[0]} 누락") if missing else None


def _account_error(ctx: Context, p: dict[str, Any]) -> SimResponse | None:
    if f"{p.get('CANO', '')}-{p.get('ACNT_PRDT_CD', '')}" != ctx.account:
        return reject(*REJECTS["unknown_account"])
    return None


def _order_type(ctx: Context, code: str) -> str | SimResponse:
    if code in ("00", "01"):
        return "limit" if code == "00" else "market"
    if ctx.paper and code not in ("02", "03", "04"):
        return reject(*PAPER_UNSUPPORTED)
    return reject("APBK0550", f"ORD_DVSN {code} is not simulated (00 limit and 01 market are)")


def order_cash(side: str) -> Handler:
    def handle(ctx: Context, body: dict[str, Any]) -> SimResponse:
        bad = _body_error(body, ("CANO", "ACNT_PRDT_CD", "PDNO", "ORD_DVSN", "ORD_QTY", "ORD_UNPR")) \
            or _account_error(ctx, body)
        if bad:
            return bad
        kind = _order_type(ctx, body["ORD_DVSN"])
        if isinstance(kind, SimResponse):
            return kind
        if not (body["ORD_QTY"].isdigit() and body["ORD_UNPR"].isdigit()):
            return reject(*REJECTS["quantity"])
        price = int(body["ORD_UNPR"])
        if kind == "market" and price:
            return reject("APBK0510", "시장가 주문은 주문단가가 0이어야 합니다")
        armed = ctx.faults.take("reject")
        if armed is not None:
            return reject(armed.get("code", "APBK0999"), armed.get("message", "주문이 거부되었습니다"))
        try:
            order = ctx.exchange.submit(ctx.account, body["PDNO"], side, int(body["ORD_QTY"]), kind, price)
        except SimReject as e:
            return _rejection(ctx, e)
        if ctx.faults.take("drop_after_order") is not None:
            raise DropConnection  # the order stands; the answer is lost
        if ctx.paper:
            msg = ("40600000", "모의투자 매수주문이 완료 되었습니다.") if side == "buy" else \
                ("40590000", "모의투자 매도주문이 완료 되었습니다.")
        else:
            msg = ("APBK0013", "주문 전송 완료 되었습니다.")
        return ok(*msg, output=_order_output(ctx, order))
    return handle


def order_rvsecncl(ctx: Context, body: dict[str, Any]) -> SimResponse:
    bad = _body_error(body, ("CANO", "ACNT_PRDT_CD", "KRX_FWDG_ORD_ORGNO", "ORGN_ODNO", "ORD_DVSN",
                             "RVSE_CNCL_DVSN_CD", "ORD_QTY", "ORD_UNPR", "QTY_ALL_ORD_YN")) \
        or _account_error(ctx, body)
    if bad:
        return bad
    if not (body["ORGN_ODNO"].isdigit() and body["ORD_QTY"].isdigit() and body["ORD_UNPR"].isdigit()):
        return reject(*REJECTS["quantity"])
    all_qty = body["QTY_ALL_ORD_YN"] == "Y"
    qty, original = int(body["ORD_QTY"]), int(body["ORGN_ODNO"])
    try:
        if body["RVSE_CNCL_DVSN_CD"] == "02":
            order = ctx.exchange.cancel(ctx.account, original, None if all_qty else qty)
        else:
            existing = ctx.exchange.orders.get(original)
            remaining = existing.remaining if existing else 0
            order = ctx.exchange.modify(ctx.account, original, remaining if all_qty else qty,
                                        int(body["ORD_UNPR"]))
    except SimReject as e:
        return _rejection(ctx, e)
    if ctx.faults.take("drop_after_order") is not None:
        raise DropConnection  # the modify or cancel stands; the answer is lost
    msg = ("40640000", "모의투자 정정/취소주문이 완료 되었습니다.") if ctx.paper else \
        ("APBK0013", "주문 전송 완료 되었습니다.")
    return ok(*msg, output=_order_output(ctx, order))


def _page(ctx: Context, params: dict[str, Any], rows: list[dict[str, str]], size: int) -> tuple[list, dict, str]:
    """KIS paging: request header tr_cont N + CTX_AREA_NK100 → (page, cursors, response tr_cont)."""
    follow = ctx.request.headers.get("tr_cont", "") == "N"
    start = int(params.get("CTX_AREA_NK100") or 0) if follow and str(params.get("CTX_AREA_NK100", "")).isdigit() else 0
    page = rows[start:start + size]
    more = start + size < len(rows)
    cursor = str(start + size) if more else ""
    return page, {"ctx_area_fk100": cursor, "ctx_area_nk100": cursor}, ("M" if more else "D")


def _ccld_row(ctx: Context, o: SimOrder) -> dict[str, str]:
    names = {"buy": ("02", "매수"), "sell": ("01", "매도")}
    code, name = names[o.side]
    if o.kind == "cancel":
        name += "취소"
    elif o.kind == "modify":
        name += "정정"
    at = o.at.astimezone(SEOUL)
    filled = o.filled
    return {"ord_dt": at.strftime("%Y%m%d"), "ord_gno_brno": _branch(ctx), "odno": f"{o.order_id:010d}",
            "orgn_odno": f"{o.original_id:010d}" if o.original_id else "",
            "ord_dvsn_name": "지정가" if o.order_type == "limit" else "시장가",
            "ord_dvsn_cd": "00" if o.order_type == "limit" else "01", "sll_buy_dvsn_cd": code,
            "sll_buy_dvsn_cd_name": name, "pdno": o.symbol,
            "prdt_name": ctx.exchange.instruments[o.symbol].name, "ord_qty": str(o.quantity),
            "ord_unpr": str(o.price), "ord_tmd": at.strftime("%H%M%S"), "tot_ccld_qty": str(filled),
            "avg_prvs": str(o.average_price), "tot_ccld_amt": str(o.fill_value),
            "cncl_yn": "Y" if o.kind == "cancel" else "N",
            "cnc_cfrm_qty": str(o.quantity if o.kind == "cancel" else 0),
            "rmn_qty": str(0 if o.kind == "cancel" else o.remaining), "rjct_qty": "0",
            "ccld_cndt_name": "없음", "infm_tmd": at.strftime("%H%M%S"), "excg_id_dvsn_cd": "KRX"}


def inquire_daily_ccld(ctx: Context, p: dict[str, Any]) -> SimResponse:
    bad = _account_error(ctx, p)
    if bad:
        return bad
    orders = ctx.exchange.day_orders(ctx.account)
    day = ctx.exchange.clock.now().astimezone(SEOUL).strftime("%Y%m%d")
    if not (p.get("INQR_STRT_DT", day) <= day <= p.get("INQR_END_DT", day)):
        orders = []
    side = {"01": "sell", "02": "buy"}.get(p.get("SLL_BUY_DVSN_CD", "00"))
    ccld = p.get("CCLD_DVSN", "00")
    orders = [o for o in orders
              if (not side or o.side == side) and (not p.get("PDNO") or o.symbol == p["PDNO"])
              and (not p.get("ODNO") or f"{o.order_id:010d}" == str(p["ODNO"]).zfill(10))
              and (ccld != "01" or o.filled) and (ccld != "02" or (o.remaining and o.kind != "cancel"))]
    orders.sort(key=lambda o: o.order_id, reverse=p.get("INQR_DVSN", "00") == "00")
    rows = [_ccld_row(ctx, o) for o in orders]
    page, cursors, cont = _page(ctx, p, rows, ctx.page_size("ccld"))
    summary = {"tot_ord_qty": str(sum(o.quantity for o in orders if o.kind != "cancel")),
               "tot_ccld_qty": str(sum(o.filled for o in orders)),
               "tot_ccld_amt": str(sum(o.fill_value for o in orders)),
               "prsm_tlex_smtl": str(ctx.exchange.account(ctx.account).costs_today), "pchs_avg_pric": "0.0000"}
    return ok("KIOK0510" if not ctx.paper else "20310000", "조회가 완료되었습니다",
              {"tr_cont": cont}, output1=page, output2=summary, **cursors)


def inquire_balance(ctx: Context, p: dict[str, Any]) -> SimResponse:
    bad = _account_error(ctx, p)
    if bad:
        return bad
    acct = ctx.exchange.account(ctx.account)
    rows, evlu, pchs = [], 0, 0
    for symbol, h in sorted(acct.holdings.items()):
        if not (h.quantity or h.bought_today or h.sold_today):
            continue
        inst = ctx.exchange.instruments[symbol]
        value, cost = h.quantity * inst.last, h.cost
        evlu, pchs = evlu + value, pchs + cost
        rows.append({"pdno": symbol, "prdt_name": inst.name, "trad_dvsn_name": "현금", "bfdy_buy_qty": "0",
                     "bfdy_sll_qty": "0", "thdt_buyqty": str(h.bought_today), "thdt_sll_qty": str(h.sold_today),
                     "hldg_qty": str(h.quantity), "ord_psbl_qty": str(h.quantity - h.reserved),
                     "pchs_avg_pric": f"{h.average_price}.0000", "pchs_amt": str(cost), "prpr": str(inst.last),
                     "evlu_amt": str(value), "evlu_pfls_amt": str(value - cost),
                     "evlu_pfls_rt": f"{(value - cost) * 100 / cost:.2f}" if cost else "0.00",
                     "evlu_erng_rt": "0.00000000", "fltt_rt": "0.00000000",
                     "bfdy_cprs_icdc": str(inst.last - inst.prev_close)})
    page, cursors, cont = _page(ctx, p, rows, ctx.page_size("balance"))
    summary = {"dnca_tot_amt": str(acct.cash), "nxdy_excc_amt": str(acct.cash),
               "prvs_rcdl_excc_amt": str(acct.cash), "thdt_buy_amt": str(acct.bought_today),
               "thdt_sll_amt": str(acct.sold_today), "thdt_tlex_amt": str(acct.costs_today),
               "scts_evlu_amt": str(evlu), "tot_evlu_amt": str(acct.cash + evlu), "nass_amt": str(acct.cash + evlu),
               "pchs_amt_smtl_amt": str(pchs), "evlu_amt_smtl_amt": str(evlu),
               "evlu_pfls_smtl_amt": str(evlu - pchs), "bfdy_tot_asst_evlu_amt": "0", "asst_icdc_amt": "0"}
    return ok("20310000" if ctx.paper else "KIOK0510", "조회가 완료되었습니다", {"tr_cont": cont},
              output1=page, output2=[summary], **cursors)


def inquire_psbl_order(ctx: Context, p: dict[str, Any]) -> SimResponse:
    bad = _account_error(ctx, p)
    if bad:
        return bad
    acct = ctx.exchange.account(ctx.account)
    price, qty = 0, 0
    if p.get("PDNO"):  # without a stock only the cash figures mean anything
        try:
            inst = ctx.exchange.instrument(p["PDNO"])
        except SimReject as e:
            return _rejection(ctx, e)
        price = int(p.get("ORD_UNPR") or 0) if str(p.get("ORD_UNPR", "")).isdigit() else 0
        if p.get("ORD_DVSN") == "01" or price <= 0:
            price = inst.limits[1]  # market buys reserve at the upper limit
        qty = acct.buying_power // price
    while qty and qty * price + ctx.exchange.costs.commission(qty * price) > acct.buying_power:
        qty -= 1
    out = {"ord_psbl_cash": str(acct.buying_power), "ord_psbl_sbst": "0", "ruse_psbl_amt": "0",
           "psbl_qty_calc_unpr": str(price), "nrcvb_buy_amt": str(qty * price), "nrcvb_buy_qty": str(qty),
           "max_buy_amt": str(qty * price), "max_buy_qty": str(qty), "cma_evlu_amt": "0"}
    return ok("KIOK0000", "정상처리 되었습니다.", output=out)


def inquire_price(ctx: Context, p: dict[str, Any]) -> SimResponse:
    try:
        inst = ctx.exchange.instrument(p.get("FID_INPUT_ISCD", ""))
    except SimReject as e:
        return _rejection(ctx, e)
    lower, upper = inst.limits
    change = inst.last - inst.prev_close
    sign = "1" if inst.last >= upper else "4" if inst.last <= lower else "2" if change > 0 else \
        "5" if change < 0 else "3"
    out = {"stck_prpr": str(inst.last), "prdy_vrss": str(change), "prdy_vrss_sign": sign,
           "prdy_ctrt": f"{change * 100 / inst.prev_close:.2f}", "stck_oprc": str(inst.open or inst.last),
           "stck_hgpr": str(inst.high or inst.last), "stck_lwpr": str(inst.low or inst.last),
           "stck_mxpr": str(upper), "stck_llam": str(lower), "stck_sdpr": str(inst.prev_close),
           "acml_vol": str(inst.volume), "acml_tr_pbmn": str(inst.value), "aspr_unit": str(inst.tick),
           "hts_deal_qty_unit_val": "1", "temp_stop_yn": "N", "iscd_stat_cls_code": "55", "vi_cls_code": "N",
           "marg_rate": "20.00", "crdt_able_yn": "Y", "short_over_yn": "N", "mrkt_warn_cls_code": "00"}
    return ok("MCA00000", "정상처리 되었습니다.", output=out)


def inquire_asking_price(ctx: Context, p: dict[str, Any]) -> SimResponse:
    """FHKST01010200: 10-level book (output1) and expected-fill block (output2)."""
    try:
        inst = ctx.exchange.instrument(p.get("FID_INPUT_ISCD", ""))
    except SimReject as e:
        return _rejection(ctx, e)
    book: dict[str, str] = {"aspr_acpt_hour": ctx.exchange.clock.now().astimezone(SEOUL).strftime("%H%M%S")}
    for side, prefix in (("sell", "askp"), ("buy", "bidp")):
        levels = ctx.exchange.levels(inst.symbol, side) + [(0, 0)] * 10
        for i, (px, qty) in enumerate(levels[:10], start=1):
            book[f"{prefix}{i}"], book[f"{prefix}_rsqn{i}"] = str(px), str(qty)
        book[f"total_{prefix}_rsqn"] = str(sum(q for _, q in levels))
    expected = {"antc_cnpr": "0", "antc_cnqn": "0", "antc_vol": "0", "antc_cntg_vrss": "0",
                "antc_cntg_vrss_sign": "3", "antc_cntg_prdy_ctrt": "0.00", "acml_vol": str(inst.volume),
                "stck_prpr": str(inst.last), "stck_sdpr": str(inst.prev_close), "stck_shrn_iscd": inst.symbol}
    return ok("MCA00000", "정상처리 되었습니다.", output1=book, output2=expected)


def inquire_daily_chart(ctx: Context, p: dict[str, Any]) -> SimResponse:
    try:
        inst = ctx.exchange.instrument(p.get("FID_INPUT_ISCD", ""))
    except SimReject as e:
        return _rejection(ctx, e)
    bars = ctx.exchange.daily.get(inst.symbol)
    if bars is None:
        today = ctx.exchange.clock.now().astimezone(SEOUL).date()
        bars = ctx.exchange.daily[inst.symbol] = synthetic_daily_bars(
            inst.prev_close, today - dt.timedelta(days=1), 250, seed=ctx.exchange.seed)
    start, end = p.get("FID_INPUT_DATE_1", "00000000"), p.get("FID_INPUT_DATE_2", "99999999")
    chosen = [b for b in bars if start <= b.date.strftime("%Y%m%d") <= end][-100:]
    rows = [{"stck_bsop_date": b.date.strftime("%Y%m%d"), "stck_oprc": str(b.open), "stck_hgpr": str(b.high),
             "stck_lwpr": str(b.low), "stck_clpr": str(b.close), "acml_vol": str(b.volume),
             "acml_tr_pbmn": str(b.volume * b.close), "flng_cls_code": "00", "prtt_rate": "0.00",
             "mod_yn": "N", "prdy_vrss_sign": "3", "prdy_vrss": "0"} for b in reversed(chosen)]
    summary = {"stck_prpr": str(inst.last), "stck_prdy_clpr": str(inst.prev_close), "acml_vol": str(inst.volume),
               "stck_mxpr": str(inst.limits[1]), "stck_llam": str(inst.limits[0]), "hts_kor_isnm": inst.name,
               "stck_shrn_iscd": inst.symbol}
    return ok("MCA00000", "정상처리 되었습니다.", output1=summary, output2=rows)


# (method, path) → {real TR id: handler}; the paper TR is the same id with V first (§1.4).
ROUTES: dict[tuple[str, str], dict[str, Handler]] = {
    ("POST", V1 + "trading/order-cash"): {"TTTC0012U": order_cash("buy"), "TTTC0802U": order_cash("buy"),
                                          "TTTC0011U": order_cash("sell"), "TTTC0801U": order_cash("sell")},
    ("POST", V1 + "trading/order-rvsecncl"): {"TTTC0013U": order_rvsecncl, "TTTC0803U": order_rvsecncl},
    ("GET", V1 + "trading/inquire-daily-ccld"): {"TTTC0081R": inquire_daily_ccld, "TTTC8001R": inquire_daily_ccld},
    ("GET", V1 + "trading/inquire-balance"): {"TTTC8434R": inquire_balance},
    ("GET", V1 + "trading/inquire-psbl-order"): {"TTTC8908R": inquire_psbl_order},
    ("GET", V1 + "quotations/inquire-price"): {"FHKST01010100": inquire_price},
    ("GET", V1 + "quotations/inquire-daily-itemchartprice"): {"FHKST03010100": inquire_daily_chart},
    ("GET", V1 + "quotations/inquire-asking-price-exp-ccn"): {"FHKST01010200": inquire_asking_price},
}
NO_PAPER = {"TTTC0084R", "TTTC8036R", "TTTC8408R", "CTCA0903R", "FHKST03010230"}


def route(method: str, path: str, tr_id: str, *, paper: bool) -> Handler | tuple[str, str]:
    """The handler for (path, tr_id) on this host, or (msg_cd, msg1) of the gateway's refusal."""
    table = ROUTES.get((method, path))
    if table is None:
        return ("OPSQ0002", "없는 서비스 코드 입니다")
    if tr_id.startswith(("F", "H")):          # quote TRs are the same on both hosts
        return table.get(tr_id) or ("OPSQ0002", "없는 서비스 코드 입니다")
    if paper:
        if tr_id[:1] in ("T", "J", "C") or tr_id in NO_PAPER:
            return ("EGW02006", "모의투자 TR 이 아닙니다.")
        for real_id, handler in table.items():
            if tr_id[:1] == "V" and real_id[1:] == tr_id[1:]:
                return handler
        return ("OPSQ0002", "없는 서비스 코드 입니다")
    return table.get(tr_id) or ("OPSQ0002", "없는 서비스 코드 입니다")
