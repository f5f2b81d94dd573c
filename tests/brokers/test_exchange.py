"""The shared in-memory exchange: matching, partial fills, funds, rules, replay."""

from __future__ import annotations

import datetime as dt

import pytest

from autostock.brokers.sim.exchange import CANCELLED, FILLED, OPEN, Exchange, SimReject
from autostock.brokers.sim.feed import (SEOUL, Faults, ManualClock, read_daily_bars, synthetic_daily_bars,
                                        synthetic_prints)
from tests.helpers import SHARED_DATA

MORNING = dt.datetime(2026, 3, 3, 10, 0, tzinfo=SEOUL)


@pytest.fixture
def ex() -> Exchange:
    ex = Exchange(clock=ManualClock(MORNING), seed=7)
    ex.add_instrument("005930", 70_000, depth=3)
    ex.open_account("A", 10_000_000)
    return ex


def test_marketable_limit_buy_fills_partially_then_rests(ex: Exchange) -> None:
    order = ex.submit("A", "005930", "buy", 10, "limit", 70_100)
    assert (order.filled, order.remaining, order.status) == (3, 7, OPEN)
    assert order.average_price == 70_100
    acct = ex.account("A")
    assert acct.holdings["005930"].quantity == 3
    assert acct.cash == 10_000_000 - 3 * 70_100 - ex.costs.commission(3 * 70_100)
    assert ex.trade("005930", 70_000, 4) == 4
    assert order.filled == 7
    record = ex.cancel("A", order.order_id)
    assert record.kind == "cancel" and record.quantity == 3 and record.original_id == order.order_id
    assert order.status == FILLED and order.cancelled == 3
    assert acct.reserved == 0


def test_market_sell_fills_against_bid_and_pays_tax(ex: Exchange) -> None:
    ex.give_shares("A", "005930", 5, 60_000)
    order = ex.submit("A", "005930", "sell", 2, "market")
    assert order.status == FILLED and order.average_price == 69_900
    value = 2 * 69_900
    fee, tax = ex.costs.costs(value, side="sell", market="KOSPI", on=MORNING.date())
    assert ex.account("A").cash == 10_000_000 + value - fee - tax
    assert ex.account("A").holdings["005930"].quantity == 3


def test_rejections_change_nothing(ex: Exchange) -> None:
    with pytest.raises(SimReject) as e:
        ex.submit("A", "005930", "buy", 1, "limit", 70_050)
    assert e.value.reason == "tick"
    with pytest.raises(SimReject) as e:
        ex.submit("A", "005930", "buy", 1, "limit", 91_100)
    assert e.value.reason == "price_band"
    with pytest.raises(SimReject) as e:
        ex.submit("A", "005930", "buy", 1000, "limit", 70_000)
    assert e.value.reason == "funds"
    with pytest.raises(SimReject) as e:
        ex.submit("A", "005930", "sell", 1, "limit", 70_000)
    assert e.value.reason == "holdings"
    ex.clock.advance(6 * 3600)
    with pytest.raises(SimReject) as e:
        ex.submit("A", "005930", "buy", 1, "limit", 70_000)
    assert e.value.reason == "session" and ex.session_phase() == "after"
    assert ex.day_orders("A") == [] and ex.account("A").reserved == 0


def test_market_buy_reserves_at_upper_limit(ex: Exchange) -> None:
    ex.requote("005930", depth=0)
    order = ex.submit("A", "005930", "buy", 100, "market")
    upper = ex.instrument("005930").limits[1]
    assert order.status == OPEN and ex.account("A").reserved >= 100 * upper
    ex.trade("005930", 70_200, 100)
    assert order.status == FILLED and order.average_price == 70_200
    assert ex.account("A").reserved == 0


def test_modify_creates_new_order_and_accounts_match(ex: Exchange) -> None:
    ex.open_account("B", 10_000_000)
    ex.requote("005930", depth=0)
    buy = ex.submit("A", "005930", "buy", 5, "limit", 69_000)
    new = ex.modify("A", buy.order_id, 5, 69_500)
    assert new.kind == "modify" and new.original_id == buy.order_id and buy.status == CANCELLED
    ex.give_shares("B", "005930", 5, 50_000)
    sell = ex.submit("B", "005930", "sell", 5, "limit", 69_500)
    assert sell.status == FILLED and new.status == FILLED
    assert [f.quantity for f in ex.day_fills("A")] == [5]
    with pytest.raises(SimReject):
        ex.cancel("A", new.order_id)
    with pytest.raises(SimReject):
        ex.cancel("B", buy.order_id)


def test_replay_of_minute_file_is_deterministic() -> None:
    path = SHARED_DATA / "krx" / "minute" / "005930_2025-06-13.csv"
    results = []
    for _ in range(2):
        ex = Exchange(clock=ManualClock(MORNING))
        ex.add_instrument("005930", 60_000, depth=0)
        ex.feed.load_minute_file("005930", path)
        assert ex.replay("005930", 40) == 40
        inst = ex.instrument("005930")
        results.append((inst.last, inst.high, inst.low, inst.volume))
    assert results[0] == results[1] and results[0][0] > 0
    bars = read_daily_bars(SHARED_DATA / "krx" / "daily" / "005930.csv")
    assert bars[-1].close == 317_000


def test_synthetic_data_is_seeded_and_on_grid() -> None:
    a = synthetic_prints(70_000, 50, seed=1)
    assert a == synthetic_prints(70_000, 50, seed=1) and all(p.price % 100 == 0 for p in a)
    bars = synthetic_daily_bars(70_000, dt.date(2026, 3, 3), 20, seed=2)
    assert len(bars) == 20 and all(b.low <= b.close <= b.high for b in bars)


def test_faults_are_consumed_in_order() -> None:
    f = Faults()
    f.arm("reject", 2, code="X")
    assert f.take("reject") == {"code": "X"} and f.take("reject") == {"code": "X"}
    assert f.take("reject") is None and f.take("drop_after_order") is None


def test_listeners_see_orders_fills_and_trades(ex: Exchange) -> None:
    seen: list[str] = []
    ex.listen(lambda event, data: seen.append(event))
    ex.submit("A", "005930", "buy", 1, "limit", 70_100)
    assert seen[:3] == ["order", "fill", "trade"]
