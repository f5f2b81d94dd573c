"""KisBroker against the KIS simulator: the whole lifecycle, paper vs real, faults, retries."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import requests

from autostock.brokers.base import OrderRequest, OrderState, OrderType, Side, UnknownOutcome
from autostock.brokers.kis import frames
from autostock.brokers.kis.broker import KisBroker
from autostock.brokers.kis.stream import KisStream
from autostock.brokers.sim.exchange import Exchange
from autostock.errors import AuthError, BrokerRejected, NotFound, ValidationError
from tests.brokers.conftest import KisEnv

SAMSUNG = "005930"


def _fees(ex: Exchange, value: int, side: str) -> int:
    fee, tax = ex.costs.costs(value, side=side, market="KOSPI", on=ex.clock.now().date())
    return fee + tax


def test_full_lifecycle_against_the_simulator(kis_env: KisEnv) -> None:
    ex = kis_env.exchange
    creds = kis_env.app(cash=10_000_000)
    broker = kis_env.broker(creds)
    broker.connect()
    assert kis_env.real.issued_count == 1
    start = broker.balance()
    assert (start.cash, start.buying_power) == (10_000_000, 10_000_000)

    ack = broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 10, OrderType.LIMIT, 70_100, "c-1"))
    assert len(ack.broker_order_id) == 10 and ack.accepted_at is not None
    status = broker.order_status(ack.broker_order_id)
    assert (status.state, status.filled_quantity, status.average_fill_price) == (OrderState.PARTIALLY_FILLED, 3, 70_100)

    ex.trade(SAMSUNG, 70_000, 4)                      # a print crosses the resting remainder
    assert broker.order_status(ack.broker_order_id).filled_quantity == 7
    cancel = broker.cancel_order(ack.broker_order_id)
    assert cancel.broker_order_id != ack.broker_order_id
    status = broker.order_status(ack.broker_order_id)
    assert (status.state, status.filled_quantity, status.cancelled_quantity) == (OrderState.CANCELLED, 7, 3)

    ex.requote(SAMSUNG, depth=10)
    sell = broker.place_order(OrderRequest(SAMSUNG, Side.SELL, 5, OrderType.MARKET))
    sold = broker.order_status(sell.broker_order_id)
    assert (sold.state, sold.filled_quantity, sold.average_fill_price) == (OrderState.FILLED, 5, 70_000)

    orders = broker.orders_today()
    assert [(o.side, o.filled_quantity) for o in orders] == [(Side.BUY, 7), (Side.SELL, 5)]
    bought = sum(f.quantity * f.price for f in orders[0].fills)
    got = sum(f.quantity * f.price for f in orders[1].fills)
    expected_cash = 10_000_000 - bought - _fees(ex, bought, "buy") + got - _fees(ex, got, "sell")
    end = broker.balance()
    assert end.cash == expected_cash == ex.account(creds.account_number).cash
    assert end.buying_power == expected_cash
    positions = broker.positions()
    assert [(p.symbol, p.quantity, p.average_price, p.sellable_quantity) for p in positions] \
        == [(SAMSUNG, 2, 70_100, 2)]
    most = expected_cash // 70_000
    while most * 70_000 + ex.costs.commission(most * 70_000) > expected_cash:
        most -= 1
    assert broker.buyable_quantity(SAMSUNG, 70_000) == most


def test_modify_replaces_the_order_and_quote_and_bars_read(kis_env: KisEnv) -> None:
    broker = kis_env.broker(kis_env.app())
    ack = broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 4, OrderType.LIMIT, 69_000))
    new = broker.modify_order(ack.broker_order_id, 4, 69_500)
    assert broker.order_status(ack.broker_order_id).state == OrderState.CANCELLED
    assert broker.order_status(new.broker_order_id).price == 69_500
    quote = broker.quote(SAMSUNG)
    assert (quote.price, quote.previous_close, quote.upper_limit, quote.lower_limit) == (70_000, 70_000, 91_000, 49_000)
    assert (quote.bid, quote.ask) == (69_900, 70_100)
    bars = broker.daily_bars(SAMSUNG, dt.date(2025, 6, 1), dt.date(2026, 3, 2))
    assert len(bars) > 100 and bars == sorted(bars, key=lambda b: b.date)
    assert all(dt.date(2025, 6, 1) <= b.date <= dt.date(2026, 3, 2) and b.low <= b.close <= b.high for b in bars)


def test_paper_account_uses_paper_host_and_tr_ids(kis_env: KisEnv) -> None:
    for paper in (False, True):
        broker = kis_env.broker(kis_env.app(paper=paper))
        broker.balance()
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 69_000))
        broker.quote(SAMSUNG)
    real_trs = [r.headers.get("tr_id") for r in kis_env.real.requests if r.path.startswith("/uapi/")]
    paper_trs = [r.headers.get("tr_id") for r in kis_env.paper.requests if r.path.startswith("/uapi/")]
    assert real_trs == ["TTTC8434R", "TTTC8908R", "TTTC0012U", "FHKST01010100", "FHKST01010200"]
    assert paper_trs == ["VTTC8434R", "VTTC8908R", "VTTC0012U", "FHKST01010100", "FHKST01010200"]
    order = next(r for r in kis_env.paper.requests if r.headers.get("tr_id") == "VTTC0012U")
    assert order.method == "POST" and all(k.isupper() and isinstance(v, str) for k, v in order.json().items())


def test_wrong_environment_keys_and_real_trs_on_paper_are_refused(kis_env: KisEnv) -> None:
    paper_creds = kis_env.app(paper=True)
    crossed = kis_env.settings.with_overrides(kis_paper_url=kis_env.real.url)
    with pytest.raises(AuthError) as e:
        KisBroker(crossed, paper_creds, kis_env.redis, token_issue_interval=0).connect()
    assert e.value.details["msg_cd"] == "EGW02004"
    broker = kis_env.broker(paper_creds)
    token = broker.client.token()
    resp = requests.get(kis_env.paper.url + "/uapi/domestic-stock/v1/trading/inquire-balance", timeout=5,
                        headers={"authorization": f"Bearer {token}", "appkey": paper_creds.app_key,
                                 "appsecret": paper_creds.app_secret, "tr_id": "TTTC8434R"})
    assert (resp.status_code, resp.json()["msg_cd"]) == (500, "EGW02006")


def test_business_rejections_keep_the_broker_code(kis_env: KisEnv) -> None:
    broker = kis_env.broker(kis_env.app(cash=100_000))
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 100, OrderType.LIMIT, 70_000))
    assert (e.value.details["msg_cd"], e.value.details["broker"]) == ("APBK0952", "kis")
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 70_050))
    assert e.value.details["msg_cd"] == "APBK0506"
    with pytest.raises(ValidationError):
        broker.place_order(OrderRequest("5930", Side.BUY, 1, OrderType.LIMIT, 70_000))
    with pytest.raises(NotFound):
        broker.order_status("0000999999")
    assert kis_env.exchange.day_orders(broker.credentials.account_number) == []


def test_paper_session_rejection_uses_paper_codes(kis_env: KisEnv) -> None:
    broker = kis_env.broker(kis_env.app(paper=True))
    broker.connect()
    kis_env.exchange.clock.advance(6 * 3600)  # 16:00 KST
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 70_000))
    assert e.value.details["msg_cd"] == "40580000"


def test_dropped_answer_after_order_is_unknown_and_resolved_by_inquiry(kis_env: KisEnv) -> None:
    creds = kis_env.app()
    broker = kis_env.broker(creds)
    broker.connect()
    kis_env.real.faults.arm("drop_after_order")
    with pytest.raises(UnknownOutcome) as e:
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 5, OrderType.LIMIT, 70_100, "order-42"))
    assert e.value.details["client_order_id"] == "order-42"
    truth = kis_env.exchange.day_orders(creds.account_number)
    assert len(truth) == 1
    found = broker.find_order("order-42")
    assert found is not None and found.broker_order_id == f"{truth[0].order_id:010d}"
    assert (found.filled_quantity, found.state) == (truth[0].filled, OrderState.PARTIALLY_FILLED)
    assert broker.order_status(found.broker_order_id).quantity == 5
    posts = [r for r in kis_env.real.requests if r.path.endswith("order-cash")]
    assert len(posts) == 1
    assert broker.find_order("never-sent") is None


def test_rate_limit_answer_is_retried_after_backoff(kis_env: KisEnv) -> None:
    broker = kis_env.broker(kis_env.app())
    kis_env.real.faults.arm("rate_limit")
    assert broker.quote(SAMSUNG).price == 70_000
    quotes = [r for r in kis_env.real.requests if r.path.endswith("inquire-price")]
    assert [r.answer for r in quotes] == [500, 200]
    assert quotes[1].at - quotes[0].at >= 0.1


def test_hashkey_is_fetched_and_sent_with_the_order(kis_env: KisEnv) -> None:
    broker = kis_env.broker(kis_env.app(), use_hashkey=True)
    broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 69_000))
    paths = [r.path for r in kis_env.real.requests]
    assert paths.index("/uapi/hashkey") < paths.index("/uapi/domestic-stock/v1/trading/order-cash")
    assert len(kis_env.real.requests[-1].headers["hashkey"]) == 64


def test_paging_follows_tr_cont_and_cursors(kis_env: KisEnv) -> None:
    kis_env.real.page_sizes[("ccld", False)] = 2
    kis_env.real.page_sizes[("balance", False)] = 1
    creds = kis_env.app()
    kis_env.exchange.give_shares(creds.account_number, "000660", 3, 190_000)
    broker = kis_env.broker(creds)
    for price in (69_000, 68_900, 68_800, 68_700, 68_600):
        broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, price))
    broker.place_order(OrderRequest(SAMSUNG, Side.BUY, 1, OrderType.LIMIT, 70_100))   # fills: a 2nd position
    assert [o.price for o in broker.orders_today()] == [69_000, 68_900, 68_800, 68_700, 68_600, 70_100]
    pages = [r for r in kis_env.real.requests if r.path.endswith("inquire-daily-ccld")]
    assert [r.headers.get("tr_cont", "") for r in pages] == ["", "N", "N"]
    assert pages[1].query["CTX_AREA_NK100"] == "2"
    assert {p.symbol for p in broker.positions()} == {"000660", SAMSUNG}


def test_approval_key_opens_the_realtime_stream(kis_env: KisEnv) -> None:
    broker = kis_env.broker(kis_env.app())
    key = broker.approval_key()
    assert len(key) == 36 and kis_env.real.requests[-1].json()["secretkey"] == broker.credentials.app_secret

    async def run() -> str:
        async with KisStream(kis_env.settings.kis_ws_url, key) as stream:
            return (await stream.subscribe(frames.TRADE_TR, SAMSUNG))["msg_cd"]

    assert asyncio.run(run()) == "OPSP0000"
