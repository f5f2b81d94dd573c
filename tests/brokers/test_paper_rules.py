"""Paper broker: KRX rules at the door (tick grid, daily limit, session) and cost amounts."""

from __future__ import annotations

import datetime as dt

import pytest

from autostock.brokers.base import OrderRequest, OrderState, OrderType, Side
from autostock.errors import BrokerRejected, ValidationError
from autostock.market.quotes import SEOUL

from .conftest import SESSION_TIME


def limit(symbol: str, side: Side, quantity: int, price: int, client_order_id: str = "") -> OrderRequest:
    return OrderRequest(symbol, side, quantity, OrderType.LIMIT, price, client_order_id)


def market(symbol: str, side: Side, quantity: int) -> OrderRequest:
    return OrderRequest(symbol, side, quantity, OrderType.MARKET)


@pytest.mark.parametrize(("last", "price", "ok"), [
    (70_000, 70_050, False),   # 50,000-200,000 band: tick 100
    (70_000, 70_100, True),
    (1_990, 1_999, True),      # < 2,000: tick 1
    (2_100, 2_001, False),     # 2,000-5,000: tick 5
    (2_100, 2_005, True),
    (300_000, 300_100, False), # 200,000-500,000: tick 500
])
def test_limit_price_off_the_tick_grid_is_rejected(paper, set_quote, symbol, last, price, ok):
    set_quote(symbol, last, prev_close=last)
    request = limit(symbol, Side.BUY, 1, price)
    if ok:
        assert paper.place_order(request).broker_order_id
        return
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(request)
    assert e.value.code == "invalid_tick"
    assert e.value.details["price"] == price
    assert paper.orders_today() == []


def test_limit_price_outside_the_daily_limit_is_rejected(paper, set_quote, symbol):
    # prev close 70,000: ±30 % → 49,000 .. 91,000, both on the 100-won grid.
    set_quote(symbol, 72_000, prev_close=70_000)
    for price in (91_100, 48_900):
        with pytest.raises(BrokerRejected) as e:
            paper.place_order(limit(symbol, Side.BUY, 1, price))
        assert e.value.code == "price_limit"
        assert (e.value.details["lower_limit"], e.value.details["upper_limit"]) == (49_000, 91_000)
    assert paper.place_order(limit(symbol, Side.BUY, 1, 49_000)).broker_order_id
    assert [o.price for o in paper.orders_today()] == [49_000]


def test_daily_limit_snaps_inward_to_the_tick_grid(paper, set_quote, symbol):
    # prev close 15,380: raw band 10,766 .. 19,994; tick 10 → 10,770 .. 19,990.
    set_quote(symbol, 15_380, prev_close=15_380)
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(limit(symbol, Side.BUY, 1, 10_760))
    assert e.value.details["upper_limit"] == 19_990 and e.value.details["lower_limit"] == 10_770


@pytest.mark.parametrize("at", [
    dt.datetime(2025, 6, 16, 8, 59, tzinfo=SEOUL),     # before the open
    dt.datetime(2025, 6, 16, 15, 30, tzinfo=SEOUL),    # at the close
    dt.datetime(2025, 6, 14, 10, 0, tzinfo=SEOUL),     # Saturday
    dt.datetime(2025, 10, 6, 10, 0, tzinfo=SEOUL),     # Chuseok holiday
    dt.datetime(2026, 1, 2, 9, 30, tzinfo=SEOUL),      # first session of the year opens at 10:00
])
def test_orders_outside_the_regular_session_are_rejected(paper, set_quote, clock, symbol, at):
    set_quote(symbol, 70_000)
    clock.at = at
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(market(symbol, Side.BUY, 1))
    assert e.value.code == "market_closed"
    assert paper.orders_today() == []
    assert paper.balance().cash == 10_000_000


def test_first_session_of_the_year_accepts_orders_from_ten(paper, set_quote, clock, symbol):
    clock.at = dt.datetime(2026, 1, 2, 10, 0, tzinfo=SEOUL)
    set_quote(symbol, 70_000, ask=70_100, at=clock.at)
    assert paper.order_status(paper.place_order(market(symbol, Side.BUY, 1)).broker_order_id).state is OrderState.FILLED


@pytest.mark.parametrize(("quantity", "order_type", "price", "code"), [
    (0, OrderType.MARKET, 0, "invalid_quantity"),
    (-3, OrderType.LIMIT, 70_000, "invalid_quantity"),
    (1, OrderType.LIMIT, 0, "invalid_price"),
])
def test_malformed_orders_are_validation_errors(paper, set_quote, symbol, quantity, order_type, price, code):
    set_quote(symbol, 70_000)
    with pytest.raises(ValidationError) as e:
        paper.place_order(OrderRequest(symbol, Side.BUY, quantity, order_type, price))
    assert e.value.code == code


def test_a_quote_from_another_day_is_not_traded_on(paper, set_quote, symbol):
    set_quote(symbol, 70_000, ask=70_000, at=SESSION_TIME - dt.timedelta(days=3))
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(market(symbol, Side.BUY, 1))
    assert e.value.code == "stale_quote"


def test_no_quote_means_no_fill(paper, symbol):
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(market(symbol, Side.BUY, 1))
    assert e.value.code == "no_quote"


def test_commission_and_tax_on_a_round_trip_2025(paper, set_quote, symbol):
    # Buy 10 × 70,000 = 700,000; commission 0.0140527 % = 98.37 → 98 (truncated to the won).
    set_quote(symbol, 70_000, ask=70_000, bid=69_900, prev_close=70_000)
    paper.place_order(market(symbol, Side.BUY, 10))
    assert paper.balance().cash == 10_000_000 - 700_000 - 98
    # Sell 10 × 71,000 = 710,000 on 2025-06-16: commission 99.77 → 99, tax 0.15 % = 1,065.
    set_quote(symbol, 71_000, ask=71_100, bid=71_000, prev_close=70_000)
    paper.place_order(market(symbol, Side.SELL, 10))
    assert paper.balance().cash == 10_000_000 - 700_098 + 710_000 - 99 - 1_065 == 10_008_738
    assert paper.positions() == []


@pytest.mark.parametrize(("at", "market_name", "tax"), [
    (dt.datetime(2026, 5, 29, 10, 0, tzinfo=SEOUL), "KOSPI", 1_420),   # 2026: 0.20 % of 710,000
    (dt.datetime(2024, 6, 17, 10, 0, tzinfo=SEOUL), "KOSDAQ", 1_278),  # 2024: 0.18 %
    (dt.datetime(2025, 6, 16, 10, 0, tzinfo=SEOUL), "KONEX", 710),     # KONEX: 0.10 %
])
def test_sell_tax_follows_market_and_date(resources, paper, set_quote, clock, symbol, at, market_name, tax):
    clock.at = at
    set_quote(symbol, 71_000, bid=71_000, ask=71_000, market=market_name, at=at)
    paper.place_order(market(symbol, Side.BUY, 10))
    paper.place_order(market(symbol, Side.SELL, 10))
    from autostock import db
    with db.tenant(resources.pool, paper.user_id) as conn:
        rows = conn.execute("SELECT side, commission, tax FROM paper_fills WHERE account_id = %s"
                            " ORDER BY side", (paper.account_id,)).fetchall()
    assert [(r["side"], r["commission"], r["tax"]) for r in rows] == [("buy", 99, 0), ("sell", 99, tax)]
    assert paper.balance().cash == 10_000_000 - 710_099 + 710_000 - 99 - tax


def test_session_time_fixture_is_a_session():
    from autostock.market import calendar
    assert calendar.is_open(SESSION_TIME)
