"""KiwoomBroker against the Kiwoom simulators: the whole lifecycle, real vs paper hosts,
Kiwoom's wire forms and return codes, paging, faults."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from autostock.brokers.base import OrderRequest, OrderState, OrderType, Side, UnknownOutcome
from autostock.brokers.kiwoom.broker import KiwoomBroker
from autostock.errors import AuthError, BrokerRejected
from tests.brokers.tr_venues import KiwoomEnv

SAMSUNG = "005930"


def test_paper_account_uses_the_paper_host(kiwoom_env: KiwoomEnv) -> None:
    for paper in (False, True):
        broker = kiwoom_env.broker(kiwoom_env.app(paper=paper))
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 69_000))
    for sim in (kiwoom_env.real, kiwoom_env.paper):
        token, order = sim.requests[0], sim.requests[1]
        assert token.path == "/oauth2/token" and token.headers["api-id"] == "au10001"
        assert set(token.json()) == {"grant_type", "appkey", "secretkey"}
        assert (order.path, order.headers["api-id"]) == ("/api/dostk/ordr", "kt10000")
        assert all(isinstance(v, str) for v in order.json().values()) and order.json()["dmst_stex_tp"] == "KRX"


def test_keys_on_the_wrong_host_are_refused(kiwoom_env: KiwoomEnv) -> None:
    paper_creds = kiwoom_env.app(paper=True)
    crossed = kiwoom_env.settings.with_overrides(kiwoom_paper_url=kiwoom_env.real.url)
    with pytest.raises(AuthError) as e:
        KiwoomBroker(crossed, paper_creds, kiwoom_env.redis, token_issue_interval=0).connect()
    assert e.value.details["broker_code"] == "8030"
    real_creds = kiwoom_env.app(paper=False)
    crossed = kiwoom_env.settings.with_overrides(kiwoom_real_url=kiwoom_env.paper.url)
    with pytest.raises(AuthError) as e:
        KiwoomBroker(crossed, real_creds, kiwoom_env.redis, token_issue_interval=0).connect()
    assert e.value.details["broker_code"] == "8031"


def test_non_string_fields_and_paper_rules_use_kiwoom_codes(kiwoom_env: KiwoomEnv) -> None:
    creds = kiwoom_env.app(paper=True)
    broker = kiwoom_env.broker(creds)
    headers = {"authorization": f"Bearer {broker.client.token()}", "api-id": "kt10000"}
    url = kiwoom_env.paper.url + "/api/dostk/ordr"
    body = {"dmst_stex_tp": "KRX", "stk_cd": SAMSUNG, "ord_qty": 1, "ord_uv": "70000", "trde_tp": "0"}
    assert requests.post(url, json=body, headers=headers, timeout=5).json()["return_code"] == 1517
    missing = {k: str(v) for k, v in body.items() if k != "dmst_stex_tp"}
    assert requests.post(url, json=missing, headers=headers, timeout=5).json()["return_code"] == 1511
    nxt = requests.post(url, json={**missing, "dmst_stex_tp": "NXT"}, headers=headers, timeout=5).json()
    assert nxt["return_code"] == 20 and "RC9000" in nxt["return_msg"]
    assert kiwoom_env.exchange.day_orders(creds.account_number) == []
    kiwoom_env.exchange.clock.advance(6 * 3600)                                        # 16:00 KST
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 70_000))
    assert (e.value.details["broker"], e.value.details["broker_code"]) == ("kiwoom", "RC4058")


def test_balance_and_chart_page_with_cont_yn(kiwoom_env: KiwoomEnv) -> None:
    ex = kiwoom_env.exchange
    creds = kiwoom_env.app()
    for i in range(22):
        symbol = f"1{i:05d}"
        ex.add_instrument(symbol, 10_000, depth=0)
        ex.give_shares(creds.account_number, symbol, 3, 9_000)
    broker = kiwoom_env.broker(creds)
    assert len(broker.positions()) == 22
    pages = [r for r in kiwoom_env.paper.requests if r.headers.get("api-id") == "kt00018"]
    assert [r.headers.get("cont-yn", "") for r in pages] == ["", "Y"] and pages[1].headers["next-key"] == "20"
    bars = broker.daily_bars(SAMSUNG, dt.date(2025, 6, 1), dt.date(2026, 3, 2))
    assert len(bars) > 150 and bars == sorted(bars, key=lambda b: b.date)
    assert sum(1 for r in kiwoom_env.paper.requests if r.headers.get("api-id") == "ka10081") >= 2
    quote = broker.quote(SAMSUNG)
    assert (quote.price, quote.previous_close, quote.upper_limit, quote.lower_limit) == (70_000, 70_000, 91_000, 49_000)


def test_modify_replaces_the_order(kiwoom_env: KiwoomEnv) -> None:
    broker = kiwoom_env.broker(kiwoom_env.app())
    ack = broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 4, OrderType.LIMIT, 69_000))
    new = broker.modify_order(ack.broker_order_id, 4, 69_500)
    assert new.raw["base_orig_ord_no"] == ack.broker_order_id
    assert broker.order_status(ack.broker_order_id).state == OrderState.CANCELLED
    assert (broker.order_status(new.broker_order_id).price, broker.order_status(new.broker_order_id).state) == (
        69_500, OrderState.ACCEPTED)


def test_dropped_answer_after_order_is_unknown_and_resolved_by_inquiry(kiwoom_env: KiwoomEnv) -> None:
    creds = kiwoom_env.app()
    broker = kiwoom_env.broker(creds)
    broker.connect()
    kiwoom_env.paper.faults.arm("drop_after_order")
    with pytest.raises(UnknownOutcome):
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 5, OrderType.LIMIT, 70_100, "order-42"))
    truth = kiwoom_env.exchange.day_orders(creds.account_number)
    found = broker.find_order("order-42")
    assert len(truth) == 1 and found is not None and found.broker_order_id == f"{truth[0].order_id:07d}"
    assert (found.filled_quantity, found.state) == (3, OrderState.PARTIALLY_FILLED)
    assert sum(1 for r in kiwoom_env.paper.requests if r.headers.get("api-id") == "kt10000") == 1


def test_rate_limit_1700_is_retried_and_8005_reissues_the_token(kiwoom_env: KiwoomEnv) -> None:
    broker = kiwoom_env.broker(kiwoom_env.app())
    kiwoom_env.paper.faults.arm("rate_limit")
    assert broker.quote(SAMSUNG).price == 70_000
    quotes = [r for r in kiwoom_env.paper.requests if r.headers.get("api-id") == "ka10001"]
    assert len(quotes) == 2 and quotes[0].meta["rate_limited"] and quotes[1].at - quotes[0].at >= 0.2
    first = broker.client.token()
    kiwoom_env.paper.expire_tokens()
    assert broker.quote(SAMSUNG).price == 70_000
    assert broker.client.token() != first and kiwoom_env.paper.issued_count == 2
    broker.client.revoke()
    assert all(t.expired for t in kiwoom_env.paper.tokens.values())
