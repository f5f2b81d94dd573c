"""LsBroker against the LS simulator: the whole lifecycle, LS's wire forms, paging, faults."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from autostock.brokers.base import OrderRequest, OrderState, OrderType, Side, UnknownOutcome
from autostock.errors import AuthError, BrokerRejected
from tests.brokers.tr_venues import LsEnv

SAMSUNG = "005930"


def test_wire_forms_are_ls_forms(ls_env: LsEnv) -> None:
    broker = ls_env.broker(ls_env.app())
    broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 69_000))
    token_call, order_call = ls_env.sim.requests[0], ls_env.sim.requests[1]
    assert token_call.path == "/oauth2/token" and "x-www-form-urlencoded" in token_call.headers["content-type"]
    assert b"appsecretkey=" in token_call.body and b"scope=oob" in token_call.body
    assert (order_call.method, order_call.path, order_call.headers["tr_cd"]) == ("POST", "/stock/order", "CSPAT00601")
    block = order_call.json()["CSPAT00601InBlock1"]
    assert block["IsuNo"] == "A005930" and block["OrdQty"] == 1 and block["BnsTpCode"] == "2"


def test_paper_requires_the_a_prefix_and_says_so(ls_env: LsEnv) -> None:
    creds = ls_env.app(paper=True)
    broker = ls_env.broker(creds)
    token = broker.client.token()
    headers = {"authorization": f"Bearer {token}", "tr_cd": "CSPAT00601", "content-type": "application/json"}
    block = {"IsuNo": SAMSUNG, "OrdQty": 1, "OrdPrc": 69_000, "BnsTpCode": "2", "OrdprcPtnCode": "00"}
    resp = requests.post(ls_env.sim.url + "/stock/order", json={"CSPAT00601InBlock1": block}, headers=headers,
                         timeout=5)
    assert resp.json()["rsp_cd"] == "01907" and "모의투자" in resp.json()["rsp_msg"]
    assert ls_env.exchange.day_orders(creds.account_number) == []
    balance = requests.post(ls_env.sim.url + "/stock/accno", json={"CSPAQ12200InBlock1": {"BalCreTp": "0"}},
                            headers={**headers, "tr_cd": "CSPAQ12200"}, timeout=5).json()
    assert balance["rsp_cd"] == "00136" and "모의투자" in balance["rsp_msg"]   # how SDKs detect paper (§2.1)


def test_business_rejections_keep_the_ls_code(ls_env: LsEnv) -> None:
    broker = ls_env.broker(ls_env.app(cash=100_000))
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 48_000))   # below 49,000
    assert (e.value.details["broker"], e.value.details["broker_code"]) == ("ls", "03181")
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 100, OrderType.LIMIT, 70_000))
    assert e.value.details["broker_code"] == "02714"
    ls_env.exchange.clock.advance(6 * 3600)                                                # 16:00 KST
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 70_000))
    assert e.value.details["broker_code"] == "03563"


def test_orders_page_with_tr_cont(ls_env: LsEnv) -> None:
    broker = ls_env.broker(ls_env.app(cash=100_000_000))
    ids = [broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 60_000 + i * 100)).broker_order_id
           for i in range(23)]
    assert [o.broker_order_id for o in broker.orders_today()] == ids
    pages = [r for r in ls_env.sim.requests if r.headers.get("tr_cd") == "t0425"]
    assert [r.headers["tr_cont"] for r in pages] == ["N", "Y"]
    assert pages[1].json()["t0425InBlock"]["cts_ordno"] == pages[1].headers["tr_cont_key"] == ids[19]


def test_quote_and_daily_bars(ls_env: LsEnv) -> None:
    broker = ls_env.broker(ls_env.app())
    quote = broker.quote(SAMSUNG)
    assert (quote.price, quote.previous_close, quote.upper_limit, quote.lower_limit) == (70_000, 70_000, 91_000, 49_000)
    bars = broker.daily_bars(SAMSUNG, dt.date(2025, 6, 1), dt.date(2026, 3, 2))
    assert len(bars) > 150 and bars == sorted(bars, key=lambda b: b.date)
    assert all(b.low <= b.close <= b.high for b in bars)


def test_dropped_answer_after_order_is_unknown_and_resolved_by_inquiry(ls_env: LsEnv) -> None:
    creds = ls_env.app()
    broker = ls_env.broker(creds)
    broker.connect()
    ls_env.sim.faults.arm("drop_after_order")
    with pytest.raises(UnknownOutcome) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 5, OrderType.LIMIT, 70_100, "order-42"))
    assert e.value.details["client_order_id"] == "order-42"
    truth = ls_env.exchange.day_orders(creds.account_number)
    found = broker.find_order("order-42")
    assert len(truth) == 1 and found is not None and found.broker_order_id == str(truth[0].order_id)
    assert (found.filled_quantity, found.state) == (3, OrderState.PARTIALLY_FILLED)
    assert sum(1 for r in ls_env.sim.requests if r.headers.get("tr_cd") == "CSPAT00601") == 1
    assert broker.find_order("never-sent") is None


def test_rate_limit_answer_is_retried_after_backoff(ls_env: LsEnv) -> None:
    broker = ls_env.broker(ls_env.app())
    ls_env.sim.faults.arm("rate_limit")
    assert broker.quote(SAMSUNG).price == 70_000
    quotes = [r for r in ls_env.sim.requests if r.headers.get("tr_cd") == "t1102"]
    assert [r.answer for r in quotes] == [500, 200] and quotes[1].at - quotes[0].at >= 0.2


def test_expired_token_is_reissued_and_revoke_ends_it(ls_env: LsEnv) -> None:
    broker = ls_env.broker(ls_env.app())
    first = broker.client.token()
    ls_env.sim.expire_tokens()
    assert broker.quote(SAMSUNG).price == 70_000           # IGW00121 → new token → same call again
    second = broker.client.token()
    assert second != first and ls_env.sim.issued_count == 2
    broker.client.revoke()
    assert ls_env.sim.tokens[second].expired
    with pytest.raises(AuthError):
        ls_env.broker(ls_env.app().__class__("nope", "nope", "1", paper=True)).connect()
