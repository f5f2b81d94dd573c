"""The Kiwoom simulator's APIs (docs/brokers.md §3.4-3.6): kt10000-kt10003 orders, kt00001
deposit, kt00018 balance, ka10075 unfilled and ka10076 filled orders, kt00011 orderable
qty, ka10001 stock info and ka10081 daily chart. Every value is a string; an int `ord_qty`
gets 1517 (obs), a missing `dmst_stex_tp` 1511; prices in quotes carry a sign ("+70100").

ka10076 lists every order that is no longer open or has fills, plus cancel confirmations
(`io_tp_nm` "매수취소"); ka10075 lists the open ones. Business rejections answer
`return_code` 20 with an RC code in the message, as seen for RC4058 (§3.1); the RC codes other
than RC4058/RC9000 are the simulator's picks.
"""

from __future__ import annotations

from typing import Any

from autostock.brokers.sim.exchange import SimOrder, SimReject
from autostock.brokers.sim.feed import SEOUL
from autostock.brokers.sim.http import DropConnection, SimResponse
from autostock.brokers.sim.tr_server import TrContext, TrHandler, daily_bars, holdings

PAGE, CHART_PAGE = 20, 100
REJECTS = {
    "funds": "RC4025:주문가능금액을 초과합니다",
    "holdings": "RC4033:매도가능수량이 부족합니다",
    "tick": "RC4007:호가단위 오류입니다",
    "price_band": "RC4008:주문가격이 상하한가 범위를 벗어났습니다",
    "quantity": "RC4010:주문수량을 확인하세요",
    "not_found": "RC4041:원주문번호가 존재하지 않습니다",
    "not_open": "RC4042:정정/취소 가능수량이 없습니다",
    "unknown_symbol": "RC1901:종목코드가 존재하지 않습니다",
    "unknown_account": "RC4001:계좌번호를 확인하세요",
    "session": "RC4057:장운영시간이 아닙니다",
}
PAPER_SESSION = {"before": "RC4057:모의투자 장시작전", "after": "RC4058:모의투자 장종료"}


def ok(ctx: TrContext, message: str, next_key: str = "", **fields: Any) -> SimResponse:
    api = ctx.request.headers.get("api-id", "")
    return SimResponse(200, {**fields, "return_code": 0, "return_msg": message},
                       {"api-id": api, "cont-yn": "Y" if next_key else "N", "next-key": next_key})


def fail(code: int, message: str) -> SimResponse:
    return SimResponse(200, {"return_code": code, "return_msg": message})


def rejected(ctx: TrContext, e: SimReject) -> SimResponse:
    if e.reason == "session" and ctx.paper:
        text = PAPER_SESSION[ctx.exchange.session_phase()]
    else:
        text = REJECTS.get(e.reason, "RC9999:" + e.message)
    return fail(20, f"[2000]({text})")


def _strings(body: dict[str, Any], required: tuple[str, ...]) -> SimResponse | None:
    for key in required:
        if key not in body:
            return fail(1511, f"필수 입력 값에 값이 존재하지 않습니다[{key}]")
    for key, value in body.items():
        if not isinstance(value, str):
            return fail(1517, f"입력 값 형식이 올바르지 않습니다[{key}]")
    return None


def _venue(ctx: TrContext, body: dict[str, Any]) -> SimResponse | None:
    venue = body.get("dmst_stex_tp", "KRX")
    if ctx.paper and venue != "KRX":
        return fail(20, "[2000](RC9000:모의투자에서는 해당업무가 제공되지 않습니다)")
    return None if venue in ("KRX", "NXT", "SOR") else fail(1511, "필수 입력 값에 값이 존재하지 않습니다[dmst_stex_tp]")


def _int(text: str) -> int:
    if not text.strip().isdigit():
        raise SimReject("quantity", f"not a number: {text!r}")
    return int(text)


def _ord_no(order_id: int) -> str:
    return f"{order_id:07d}"


def _order(side: str) -> TrHandler:
    def handle(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
        bad = _strings(body, ("dmst_stex_tp", "stk_cd", "ord_qty", "trde_tp")) or _venue(ctx, body)
        if bad:
            return bad
        kind = {"0": "limit", "3": "market"}.get(body["trde_tp"])
        if kind is None:
            return fail(20, f"[2000](RC4011:trde_tp {body['trde_tp']} 은 시뮬레이터에서 지원하지 않습니다)")
        try:
            price = _int(body.get("ord_uv") or "0") if kind == "limit" else 0
            armed = ctx.faults.take("reject")
            if armed is not None:
                raise SimReject("armed", armed.get("message", "주문이 거부되었습니다"))
            order = ctx.exchange.submit(ctx.account, body["stk_cd"], side, _int(body["ord_qty"]), kind, price)
        except SimReject as e:
            return rejected(ctx, e)
        if ctx.faults.take("drop_after_order") is not None:
            raise DropConnection  # the order stands; the answer is lost
        msg = "매수주문이 완료되었습니다" if side == "buy" else "매도주문이 완료되었습니다"
        return ok(ctx, ("모의투자 " if ctx.paper else "") + msg, ord_no=_ord_no(order.order_id),
                  dmst_stex_tp=body["dmst_stex_tp"])
    return handle


def kt10002(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    bad = _strings(body, ("dmst_stex_tp", "orig_ord_no", "stk_cd", "mdfy_qty", "mdfy_uv")) or _venue(ctx, body)
    if bad:
        return bad
    try:
        order = ctx.exchange.modify(ctx.account, _int(body["orig_ord_no"]), _int(body["mdfy_qty"]),
                                    _int(body["mdfy_uv"]))
    except SimReject as e:
        return rejected(ctx, e)
    return ok(ctx, "정정주문이 완료되었습니다", ord_no=_ord_no(order.order_id), base_orig_ord_no=body["orig_ord_no"],
              mdfy_qty=body["mdfy_qty"], dmst_stex_tp=body["dmst_stex_tp"])


def kt10003(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    bad = _strings(body, ("dmst_stex_tp", "orig_ord_no", "stk_cd", "cncl_qty")) or _venue(ctx, body)
    if bad:
        return bad
    try:
        qty = _int(body["cncl_qty"])
        order = ctx.exchange.cancel(ctx.account, _int(body["orig_ord_no"]), qty or None)  # "0" = all (§3.5)
    except SimReject as e:
        return rejected(ctx, e)
    return ok(ctx, "취소주문이 완료되었습니다", ord_no=_ord_no(order.order_id), base_orig_ord_no=body["orig_ord_no"],
              cncl_qty=str(order.quantity))


def _signed(value: int, reference: int) -> str:
    """Kiwoom's signed price strings: + above the reference, - below (§3.3)."""
    return f"+{value}" if value > reference else f"-{value}" if value < reference else str(value)


def _paged(ctx: TrContext, rows: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], str]:
    start = 0
    if ctx.request.headers.get("cont-yn") == "Y" and ctx.request.headers.get("next-key", "").isdigit():
        start = int(ctx.request.headers["next-key"])
    page = rows[start:start + size]
    return page, str(start + size) if start + size < len(rows) else ""


def _io_name(o: SimOrder) -> str:
    base = "+매수" if o.side == "buy" else "-매도"
    return base + {"new": "", "modify": "정정", "cancel": "취소"}[o.kind]


def _order_row(ctx: TrContext, o: SimOrder) -> dict[str, str]:
    inst = ctx.exchange.instruments[o.symbol]
    stt = "확인" if o.kind == "cancel" else "체결" if o.filled else "접수"
    return {"ord_no": _ord_no(o.order_id), "stk_cd": o.symbol, "stk_nm": inst.name, "io_tp_nm": _io_name(o),
            "ord_pric": str(o.price), "ord_qty": str(o.quantity), "cntr_pric": str(o.average_price),
            "cntr_qty": str(o.filled), "oso_qty": str(0 if o.kind == "cancel" else o.remaining),
            "cntr_tot_amt": str(o.fill_value), "ord_stt": stt,
            "trde_tp": "보통" if o.order_type == "limit" else "시장가",
            "orig_ord_no": _ord_no(o.original_id) if o.original_id else "",
            "cur_prc": _signed(inst.last, inst.prev_close),
            "tm": o.at.astimezone(SEOUL).strftime("%H%M%S"), "ord_tm": o.at.astimezone(SEOUL).strftime("%H%M%S"),
            "tdy_trde_cmsn": "0", "tdy_trde_tax": "0", "stex_tp": "1", "sor_yn": "N", "stop_pric": "",
            "acnt_no": ctx.account}


def _filter(ctx: TrContext, body: dict[str, Any], keep: Any, side_key: str) -> list[SimOrder]:
    side = {"1": "sell", "2": "buy"}.get(str(body.get(side_key, "0")))
    code = str(body.get("stk_cd") or "")
    return [o for o in ctx.exchange.day_orders(ctx.account)
            if keep(o) and (not side or o.side == side) and (not code or o.symbol == code)]


def ka10075(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    orders = _filter(ctx, body, lambda o: o.kind != "cancel" and o.remaining, "trde_tp")
    page, key = _paged(ctx, [_order_row(ctx, o) for o in sorted(orders, key=lambda o: -o.order_id)], PAGE)
    return ok(ctx, "조회가 완료되었습니다", key, oso=page)


def ka10076(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    orders = _filter(ctx, body, lambda o: o.kind == "cancel" or o.filled or not o.remaining, "sell_tp")
    if str(body.get("ord_no") or "").isdigit():  # fills older than this order number (§3.6)
        orders = [o for o in orders if o.order_id < int(body["ord_no"])]
    page, key = _paged(ctx, [_order_row(ctx, o) for o in sorted(orders, key=lambda o: -o.order_id)], PAGE)
    return ok(ctx, "조회가 완료되었습니다", key, cntr=page)


def _z(value: int) -> str:
    """kt00018 pads its numbers with zeros (obs) and signs losses."""
    return f"-{abs(value):015d}" if value < 0 else f"{value:015d}"


def kt00018(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    acct = ctx.exchange.account(ctx.account)
    rows, cost_total, value_total = [], 0, 0
    for h, inst, value in holdings(ctx.exchange, ctx.account):
        cost_total, value_total = cost_total + h.cost, value_total + value
        rows.append({"stk_cd": "A" + inst.symbol, "stk_nm": inst.name, "evltv_prft": _z(value - h.cost),
                     "prft_rt": f"{(value - h.cost) * 100 / h.cost:.2f}" if h.cost else "0.00",
                     "pur_pric": _z(h.average_price), "pred_close_pric": _z(inst.prev_close),
                     "rmnd_qty": _z(h.quantity),
                     "trde_able_qty": _z(h.quantity - h.reserved), "cur_prc": _z(inst.last), "pred_buyq": _z(0),
                     "pred_sellq": _z(0), "tdy_buyq": _z(h.bought_today), "tdy_sellq": _z(h.sold_today),
                     "pur_amt": _z(h.cost), "pur_cmsn": _z(0), "evlt_amt": _z(value), "sell_cmsn": _z(0), "tax": _z(0),
                     "sum_cmsn": _z(0), "poss_rt": "0.00", "crd_tp": "00", "crd_loan_dt": ""})
    page, key = _paged(ctx, rows, PAGE)
    return ok(ctx, "조회가 완료되었습니다", key, tot_pur_amt=_z(cost_total), tot_evlt_amt=_z(value_total),
              tot_evlt_pl=_z(value_total - cost_total), tot_prft_rt="0.00",
              prsm_dpst_aset_amt=_z(acct.cash + value_total), tot_loan_amt=_z(0), acnt_evlt_remn_indv_tot=page)


def kt00001(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    acct = ctx.exchange.account(ctx.account)
    return ok(ctx, "조회가 완료되었습니다", entr=_z(acct.cash), d1_entra=_z(acct.cash), d2_entra=_z(acct.cash),
              ord_alow_amt=_z(acct.buying_power), pymn_alow_amt=_z(acct.buying_power), repl_amt=_z(0), uncla=_z(0))


def kt00011(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    try:
        inst = ctx.exchange.instrument(str(body.get("stk_cd", "")))
        price = _int(body.get("uv") or "0") or inst.limits[1]
    except SimReject as e:
        return rejected(ctx, e)
    cash = ctx.exchange.account(ctx.account).buying_power
    qty = cash // price
    while qty and qty * price + ctx.exchange.costs.commission(qty * price) > cash:
        qty -= 1
    return ok(ctx, "조회가 완료되었습니다", stk_profa_rt="20%", profa_rt="100%", aplc_rt="100%",
              profa_100ord_alow_amt=_z(qty * price), profa_100ord_alowq=_z(qty), min_ord_alow_amt=_z(qty * price),
              min_ord_alowq=_z(qty), entr=_z(ctx.exchange.account(ctx.account).cash), repl_amt=_z(0), uncla=_z(0),
              ord_alowa=_z(cash))


def ka10001(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    try:
        inst = ctx.exchange.instrument(str(body.get("stk_cd", "")).split("_")[0])
    except SimReject as e:
        return rejected(ctx, e)
    base = inst.prev_close
    lower, upper = inst.limits
    change = inst.last - base
    return ok(ctx, "조회가 완료되었습니다", stk_cd=inst.symbol, stk_nm=inst.name, cur_prc=_signed(inst.last, base),
              pre_sig="2" if change > 0 else "5" if change < 0 else "3", pred_pre=_signed(abs(change), 0) if change >= 0
              else f"-{abs(change)}", flu_rt=f"{change * 100 / base:+.2f}", trde_qty=str(inst.volume),
              open_pric=_signed(inst.open or inst.last, base), high_pric=_signed(inst.high or inst.last, base),
              low_pric=_signed(inst.low or inst.last, base), upl_pric=_signed(upper, base),
              lst_pric=_signed(lower, base), base_pric=str(base), exp_cntr_pric="0", mac="0", flo_stk="0",
              per="", eps="", pbr="")


def ka10004(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    """Order book: best ask `sel_fpr_bid` and best bid `buy_fpr_bid` (§3.6), then deeper levels
    as sel_{n}th_pre_bid / buy_{n}th_pre_bid with their _req sizes (the deeper names are unconfirmed)."""
    try:
        inst = ctx.exchange.instrument(str(body.get("stk_cd", "")).split("_")[0])
    except SimReject as e:
        return rejected(ctx, e)
    out: dict[str, str] = {"bid_req_base_tm": ctx.exchange.clock.now().astimezone(SEOUL).strftime("%H%M%S")}
    for side, prefix in (("sell", "sel"), ("buy", "buy")):
        levels = ctx.exchange.levels(inst.symbol, side) + [(0, 0)] * 10
        out[f"{prefix}_fpr_bid"] = _signed(levels[0][0], inst.prev_close)
        out[f"{prefix}_fpr_req"] = str(levels[0][1])
        for i, (px, qty) in enumerate(levels[1:10], start=2):
            out[f"{prefix}_{i}th_pre_bid"], out[f"{prefix}_{i}th_pre_req"] = _signed(px, inst.prev_close), str(qty)
        out[f"tot_{prefix}_req"] = str(sum(q for _, q in levels))
    return ok(ctx, "조회가 완료되었습니다", **out)


def ka10081(ctx: TrContext, body: dict[str, Any]) -> SimResponse:
    try:
        inst = ctx.exchange.instrument(str(body.get("stk_cd", "")).split("_")[0])
    except SimReject as e:
        return rejected(ctx, e)
    bars = daily_bars(ctx.exchange, inst)
    base = str(body.get("base_dt") or "99999999")
    rows = [{"dt": b.date.strftime("%Y%m%d"), "open_pric": str(b.open), "high_pric": str(b.high),
             "low_pric": str(b.low), "cur_prc": str(b.close), "trde_qty": str(b.volume),
             "trde_prica": str(b.volume * b.close // 1_000_000), "pred_pre": "0", "pred_pre_sig": "3",
             "trde_tern_rt": "0.00"} for b in reversed(bars) if b.date.strftime("%Y%m%d") <= base]
    page, key = _paged(ctx, rows, CHART_PAGE)
    return ok(ctx, "조회가 완료되었습니다", key, stk_cd=inst.symbol, stk_dt_pole_chart_qry=page)


ORDR, ACNT = "/api/dostk/ordr", "/api/dostk/acnt"
ROUTES: dict[tuple[str, str], TrHandler] = {
    (ORDR, "kt10000"): _order("buy"),
    (ORDR, "kt10001"): _order("sell"),
    (ORDR, "kt10002"): kt10002,
    (ORDR, "kt10003"): kt10003,
    (ACNT, "kt00001"): kt00001,
    (ACNT, "kt00018"): kt00018,
    (ACNT, "ka10075"): ka10075,
    (ACNT, "ka10076"): ka10076,
    (ACNT, "kt00011"): kt00011,
    ("/api/dostk/stkinfo", "ka10001"): ka10001,
    ("/api/dostk/mrkcond", "ka10004"): ka10004,
    ("/api/dostk/chart", "ka10081"): ka10081,
}
