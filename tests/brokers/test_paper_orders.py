"""Paper broker: market fills at bid/ask, buying power and holdings, order lifecycle, tenancy."""

from __future__ import annotations

import datetime as dt

import pytest

from autostock import db
from autostock.brokers.base import OrderRequest, OrderState, OrderType, Side
from autostock.brokers.paper import store
from autostock.errors import BrokerRejected, Conflict, NotFound, ValidationError
from autostock.market.costs import CostModel

from tests.helpers import SESSION_TIME, rows_read

from .test_paper_rules import limit, market


def test_market_buy_pays_the_ask_and_sell_gets_the_bid(paper, set_quote, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_200)
    buy = paper.order_status(paper.place_order(market(symbol, Side.BUY, 3)).broker_order_id)
    assert (buy.state, buy.filled_quantity, buy.average_fill_price) == (OrderState.FILLED, 3, 70_200)
    assert [(f.quantity, f.price) for f in buy.fills] == [(3, 70_200)]
    sell = paper.order_status(paper.place_order(market(symbol, Side.SELL, 2)).broker_order_id)
    assert (sell.state, sell.average_fill_price) == (OrderState.FILLED, 69_900)
    [position] = paper.positions()
    assert (position.symbol, position.quantity, position.average_price, position.last_price) \
        == (symbol, 1, 70_200, 70_000)


@pytest.mark.parametrize(("last", "side", "price"), [
    (70_000, Side.BUY, 70_100),   # no book: last + 1 tick
    (70_000, Side.SELL, 69_900),  # last − 1 tick
    (50_000, Side.SELL, 49_950),  # one tick down from a band's floor uses the band below (50)
    (49_950, Side.BUY, 50_000),
])
def test_market_order_without_a_book_pays_one_tick_of_slippage(paper_factory, set_quote, symbol, last, side, price):
    broker = paper_factory()
    set_quote(symbol, last)
    if side is Side.SELL:
        broker.place_order(market(symbol, Side.BUY, 1))
    status = broker.order_status(broker.place_order(market(symbol, side, 1)).broker_order_id)
    assert status.average_fill_price == price


def test_market_price_stays_inside_the_daily_limit(paper, set_quote, symbol):
    # At the upper limit (91,000) with no book, last + 1 tick would be 91,100: capped.
    set_quote(symbol, 91_000, prev_close=70_000)
    status = paper.order_status(paper.place_order(market(symbol, Side.BUY, 1)).broker_order_id)
    assert status.average_fill_price == 91_000


def test_marketable_limit_fills_at_the_better_book_price(paper, set_quote, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    status = paper.order_status(paper.place_order(limit(symbol, Side.BUY, 2, 70_500)).broker_order_id)
    assert (status.state, status.average_fill_price, status.price) == (OrderState.FILLED, 70_000, 70_500)


def test_limit_order_away_from_the_market_rests_and_reserves_cash(paper_factory, set_quote, symbol):
    broker = paper_factory(cash=1_000_000)
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    ack = broker.place_order(limit(symbol, Side.BUY, 10, 69_000))
    assert broker.order_status(ack.broker_order_id).state is OrderState.ACCEPTED
    # 690,000 + commission 96 (690,000 × 0.0140527 % = 96.96) held back.
    assert broker.balance() == type(broker.balance())(cash=1_000_000, buying_power=309_904, total_equity=1_000_000)
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(limit(symbol, Side.BUY, 5, 69_000))
    assert e.value.code == "insufficient_buying_power"
    assert e.value.details["buying_power"] == 309_904
    assert len(broker.orders_today()) == 1
    broker.cancel_order(ack.broker_order_id)
    assert broker.balance().buying_power == 1_000_000


def test_selling_more_than_is_held_or_offered_is_rejected(paper, set_quote, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(market(symbol, Side.SELL, 1))
    assert e.value.code == "insufficient_holdings"
    paper.place_order(market(symbol, Side.BUY, 5))
    paper.place_order(limit(symbol, Side.SELL, 3, 75_000))       # rests: 3 offered
    assert paper.positions()[0].sellable_quantity == 2
    with pytest.raises(BrokerRejected) as e:
        paper.place_order(market(symbol, Side.SELL, 3))
    assert e.value.details["sellable"] == 2


def test_buying_power_check_covers_commission(paper_factory, set_quote, symbol):
    broker = paper_factory(cash=700_000)
    set_quote(symbol, 70_000, ask=70_000)
    with pytest.raises(BrokerRejected) as e:
        broker.place_order(market(symbol, Side.BUY, 10))          # needs 700,098
    assert e.value.details["needed"] == 700_098
    assert broker.balance().cash == 700_000


def test_cancel_partial_then_rest_and_modify(paper, set_quote, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 10, 69_000)).broker_order_id
    paper.cancel_order(oid, 4)
    status = paper.order_status(oid)
    assert (status.state, status.cancelled_quantity, status.remaining) == (OrderState.ACCEPTED, 4, 6)
    paper.modify_order(oid, 5, 69_500)                            # still below the ask: rests
    status = paper.order_status(oid)
    assert (status.price, status.remaining, status.cancelled_quantity) == (69_500, 5, 5)
    paper.modify_order(oid, 5, 70_000)                            # now marketable: fills at the ask
    status = paper.order_status(oid)
    assert (status.state, status.filled_quantity, status.average_fill_price) == (OrderState.CANCELLED, 5, 70_000)
    with pytest.raises(Conflict) as e:
        paper.cancel_order(oid)
    assert e.value.code == "order_not_open"


def test_modify_checks_the_new_price_and_quantity(paper, set_quote, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000, prev_close=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 2, 69_000)).broker_order_id
    with pytest.raises(BrokerRejected) as e:
        paper.modify_order(oid, 2, 69_050)
    assert e.value.code == "invalid_tick"
    with pytest.raises(BrokerRejected) as e:
        paper.modify_order(oid, 3, 69_000)
    assert e.value.code == "modify_quantity"
    with pytest.raises(ValidationError):
        paper.cancel_order(oid, 5)
    assert paper.order_status(oid).remaining == 2


def test_cancel_of_a_filled_order_is_a_conflict(paper, set_quote, symbol):
    set_quote(symbol, 70_000, ask=70_000)
    oid = paper.place_order(market(symbol, Side.BUY, 1)).broker_order_id
    with pytest.raises(Conflict):
        paper.cancel_order(oid)
    with pytest.raises(Conflict):
        paper.modify_order(oid, 1, 70_000)


def test_client_order_id_makes_a_resend_return_the_first_order(paper, set_quote, symbol):
    set_quote(symbol, 70_000, ask=70_000)
    first = paper.place_order(OrderRequest(symbol, Side.BUY, 1, OrderType.MARKET, client_order_id="c-1"))
    again = paper.place_order(OrderRequest(symbol, Side.BUY, 1, OrderType.MARKET, client_order_id="c-1"))
    assert first.broker_order_id == again.broker_order_id
    assert len(paper.orders_today()) == 1
    assert paper.find_order("c-1").broker_order_id == first.broker_order_id
    assert paper.find_order("nope") is None and paper.find_order("") is None


def test_another_user_sees_nothing_of_a_paper_account(paper, paper_factory, user_factory, set_quote,
                                                      resources, symbol):
    from autostock.brokers.paper import PaperBroker
    set_quote(symbol, 70_000, ask=70_000)
    oid = paper.place_order(market(symbol, Side.BUY, 1)).broker_order_id
    other = paper_factory()
    with pytest.raises(NotFound):
        other.order_status(oid)
    with pytest.raises(NotFound):
        other.cancel_order(oid)
    # The same account id under another user: RLS hides the account itself.
    intruder = PaperBroker(resources, paper.account_id, user_factory()["id"], clock=paper.clock)
    with pytest.raises(NotFound):
        intruder.balance()
    with pytest.raises(NotFound):
        intruder.place_order(market(symbol, Side.BUY, 1))
    assert [o.broker_order_id for o in paper.orders_today()] == [oid]


def test_unknown_order_ids_are_not_found(paper):
    for bad in ("0000999999", "abc", ""):
        with pytest.raises(NotFound):
            paper.order_status(bad)


def test_connect_is_idempotent_and_keeps_the_starting_cash(paper, set_quote, symbol):
    set_quote(symbol, 70_000, ask=70_000)
    paper.place_order(market(symbol, Side.BUY, 1))
    cash = paper.balance().cash
    paper.connect()
    assert paper.balance().cash == cash < 10_000_000
    info = paper.account_info()
    assert info.paper and info.broker == "paper"


def test_quote_carries_the_daily_limits(paper, set_quote, symbol):
    set_quote(symbol, 72_000, bid=71_900, ask=72_000, prev_close=70_000)
    quote = paper.quote(symbol)
    assert (quote.price, quote.bid, quote.ask, quote.upper_limit, quote.lower_limit) \
        == (72_000, 71_900, 72_000, 91_000, 49_000)
    with pytest.raises(NotFound):
        paper.quote("ZZZZZ9")
    with pytest.raises(ValidationError):
        paper.quote("../x")
    assert paper.daily_bars(symbol, dt.date(2025, 1, 1), dt.date(2025, 2, 1)) == []


@pytest.mark.parametrize("later", [dt.timedelta(days=1), dt.timedelta(hours=5, minutes=30)])
def test_open_day_orders_expire_at_the_close(paper, set_quote, clock, symbol, later):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    filled = paper.place_order(market(symbol, Side.BUY, 1)).broker_order_id
    resting = paper.place_order(limit(symbol, Side.BUY, 3, 69_000)).broker_order_id
    assert [o.broker_order_id for o in paper.orders_today()] == [filled, resting]
    clock.at = clock.at + later            # the next day, or 15:30 the same day
    status = paper.order_status(resting)
    assert (status.state, status.cancelled_quantity, status.remaining) == (OrderState.EXPIRED, 3, 0)
    assert paper.order_status(filled).state is OrderState.FILLED
    assert paper.balance().buying_power == paper.balance().cash
    expected = [] if later.days else [filled, resting]
    assert [o.broker_order_id for o in paper.orders_today()] == expected


def test_applying_the_same_fill_twice_changes_nothing(paper, resources, set_quote, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 10, 69_000)).broker_order_id
    at = paper.clock()
    results = []
    for _ in range(2):
        with db.tenant(resources.pool, paper.user_id) as conn:
            store.lock_account(conn, paper.account_id)
            order = store.get_order(conn, store.parse_order_id(oid), lock=True)
            results.append(store.apply_fill(conn, order, "fill-x", 4, 69_000, at, CostModel()))
    assert results[0] is not None and results[1] is None
    status = paper.order_status(oid)
    assert (status.state, status.filled_quantity, len(status.fills)) == (OrderState.PARTIALLY_FILLED, 4, 1)
    assert paper.balance().cash == 10_000_000 - 276_000 - 38     # 276,000 × 0.0140527 % = 38.79


def test_an_immediate_fill_keeps_its_id_past_ten_digit_order_ids(paper, set_quote, symbol, database_url):
    """The fill written with its order takes the order's id as `broker_order_id` spells it,
    however long the id grows (ids are zero-padded to ten digits, not cut to them)."""
    set_quote(symbol, 70_000)
    import psycopg
    with psycopg.connect(database_url, autocommit=True) as conn:  # the sequence's owner
        before = conn.execute("SELECT last_value FROM paper_orders_id_seq").fetchone()[0]
        conn.execute("SELECT setval('paper_orders_id_seq', 12345678900)")
    try:
        ack = paper.place_order(market(symbol, Side.BUY, 1))
        assert ack.broker_order_id == "12345678901"
        [fill] = paper.order_status(ack.broker_order_id).fills
        assert fill.fill_id == "12345678901-0"
        short = paper.place_order(market(symbol, Side.BUY, 1))  # and a short id is padded
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT setval('paper_orders_id_seq', %s)", (before,))
    assert short.broker_order_id == "12345678902"


def test_a_refused_marketable_order_leaves_no_order_fill_or_cash_move(paper_factory, set_quote, symbol, resources):
    """A marketable order is written with its fill before its means are checked; a refusal
    takes both back with the transaction."""
    broker = paper_factory(cash=100_000)
    set_quote(symbol, 70_000)
    broker.place_order(market(symbol, Side.BUY, 1))
    cash = broker.balance().cash
    with pytest.raises(BrokerRejected) as refused:
        broker.place_order(market(symbol, Side.BUY, 1))
    assert refused.value.code == "insufficient_buying_power"
    with pytest.raises(BrokerRejected) as refused:
        broker.place_order(market(symbol, Side.SELL, 2))
    assert refused.value.code == "insufficient_holdings"
    assert broker.balance().cash == cash
    assert [(o.side, o.filled_quantity) for o in broker.orders_today()] == [(Side.BUY, 1)]
    [position] = broker.positions()
    assert position.quantity == 1


def test_an_order_reads_only_open_orders_however_long_the_history(paper, set_quote, symbol, resources,
                                                                   database_url):
    """The expiry sweep and the means check read the account's open orders, not its history:
    placing an order on an account with 3,000 closed orders of earlier days reads a handful of
    `paper_orders` rows."""
    import psycopg
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    paper.place_order(market(symbol, Side.BUY, 10))
    paper.place_order(limit(symbol, Side.SELL, 2, 75_000))            # open: offered, not sellable
    with psycopg.connect(database_url, autocommit=True) as conn:     # the tables' owner
        conn.execute(
            "INSERT INTO paper_orders (account_id, user_id, symbol, market, side, order_type, quantity, price,"
            " filled_quantity, filled_value, state, trade_date)"
            " SELECT %s, %s, %s, 'KOSPI', 'buy', 'limit', 1, 70000, 1, 70000, 'filled', %s - (g / 20)"
            " FROM generate_series(1, 3000) g", (paper.account_id, paper.user_id, symbol, paper.clock().date()))
        conn.execute("ANALYZE paper_orders")
    with db.tenant(resources.pool, paper.user_id) as conn:
        before = rows_read(conn, "paper_orders")
        ack = paper.place_order_in(conn, market(symbol, Side.SELL, 8))
        read = rows_read(conn, "paper_orders") - before
        assert ack.status is not None and ack.status.state is OrderState.FILLED
        with pytest.raises(BrokerRejected) as refused:               # the offered 2 are not sellable
            paper.place_order_in(conn, market(symbol, Side.SELL, 1))
    assert refused.value.code == "insufficient_holdings"
    assert read < 20


def test_a_modify_does_not_fill_against_a_quote_from_another_day(paper, set_quote, symbol):
    """As a new order is refused on yesterday's quote (the collector stopped), so is a modify:
    it would fill at a price from another day."""
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 1, 60_000)).broker_order_id
    set_quote(symbol, 50_000, bid=49_900, ask=50_000, prev_close=50_000, at=SESSION_TIME - dt.timedelta(days=1))
    with pytest.raises(BrokerRejected) as refused:
        paper.modify_order(oid, 1, 60_000)
    assert refused.value.code == "stale_quote"
    status = paper.order_status(oid)
    assert (status.state, status.filled_quantity, status.price) == (OrderState.ACCEPTED, 0, 60_000)
