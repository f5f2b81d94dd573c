"""The broker contract: every adapter, the same behaviour through `base.Broker` (style rule 7).

Each adapter contributes a `<name>_harness` fixture returning a `Harness`: a connected broker
plus two hooks that move its market (its simulator's, or Redis quotes for paper). To add an
adapter: write the fixture (in tests/brokers/conftest.py or here) and add its name to ADAPTERS.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from autostock.brokers.base import (AccountInfo, Balance, Broker, OrderRequest, OrderState, OrderStatus,
                                    OrderType, Quote, Side)
from autostock.errors import BrokerRejected, NotFound
from tests.brokers.conftest import KisEnv
from tests.brokers.tr_venues import KiwoomEnv, LsEnv

ADAPTERS = ["paper", "kis", "kis_paper", "ls", "kiwoom", "kiwoom_paper"]


@dataclass
class Harness:
    broker: Broker
    symbol: str
    # set_market(price, bid, ask): the last trade and best prices; previous close = price.
    set_market: Callable[[int, int, int], None]
    # trade(price, volume): a trade prints at `price`; resting orders it reaches fill (returns when done).
    trade: Callable[[int, int], None]


@pytest.fixture
def paper_harness(paper_factory, set_quote, resources, clock) -> Harness:
    from autostock.brokers.paper import Matcher
    from autostock.market.quotes import Tick
    symbol = "C" + uuid.uuid4().hex[:5].upper()
    counter = iter(range(1_000_000))

    def trade(price: int, volume: int) -> None:
        # The matcher's own entry point, called directly: NATS delivery is test_paper_matcher's job.
        Matcher(resources).on_tick(Tick(symbol, price, volume, clock() + dt.timedelta(seconds=1),
                                        f"c{next(counter)}"))

    def set_market(price: int, bid: int, ask: int) -> None:
        set_quote(symbol, price, bid=bid, ask=ask)

    return Harness(broker=paper_factory(cash=10_000_000), symbol=symbol, set_market=set_market, trade=trade)


def _kis_harness(env: KisEnv | LsEnv | KiwoomEnv, paper: bool) -> Harness:
    """A broker on one of the exchange-backed simulators (KIS, LS, Kiwoom)."""
    symbol = "C" + uuid.uuid4().hex[:5].upper()
    env.exchange.add_instrument(symbol, 70_000, depth=1_000)
    broker = env.broker(env.app(paper=paper))
    broker.connect()

    def set_market(price: int, bid: int, ask: int) -> None:
        env.exchange.set_market(symbol, price, bid, ask)

    def trade(price: int, volume: int) -> None:
        env.exchange.trade(symbol, price, volume)

    return Harness(broker=broker, symbol=symbol, set_market=set_market, trade=trade)


@pytest.fixture
def kis_harness(kis_env: KisEnv) -> Harness:
    return _kis_harness(kis_env, paper=False)


@pytest.fixture
def kis_paper_harness(kis_env: KisEnv) -> Harness:
    return _kis_harness(kis_env, paper=True)


@pytest.fixture
def ls_harness(ls_env: LsEnv) -> Harness:
    return _kis_harness(ls_env, paper=True)


@pytest.fixture
def kiwoom_harness(kiwoom_env: KiwoomEnv) -> Harness:
    return _kis_harness(kiwoom_env, paper=False)


@pytest.fixture
def kiwoom_paper_harness(kiwoom_env: KiwoomEnv) -> Harness:
    return _kis_harness(kiwoom_env, paper=True)


@pytest.fixture(params=ADAPTERS)
def harness(request) -> Harness:
    return request.getfixturevalue(f"{request.param}_harness")


def _limit(h: Harness, side: Side, quantity: int, price: int, client_order_id: str = "") -> OrderRequest:
    return OrderRequest(h.symbol, side, quantity, OrderType.LIMIT, price, client_order_id)


def test_adapter_implements_the_whole_interface(harness):
    broker = harness.broker
    for name, member in inspect.getmembers(Broker, inspect.isfunction):
        if getattr(member, "__isabstractmethod__", False):
            assert getattr(type(broker), name) is not member, f"{type(broker).__name__}.{name} missing"
    assert type(broker).name and isinstance(type(broker).capabilities, dict)


def test_account_and_balance_are_typed_integers(harness):
    harness.broker.connect()   # idempotent
    info = harness.broker.account_info()
    assert isinstance(info, AccountInfo) and info.broker == type(harness.broker).name
    balance = harness.broker.balance()
    assert isinstance(balance, Balance)
    assert all(isinstance(v, int) for v in (balance.cash, balance.buying_power, balance.total_equity))
    assert 0 <= balance.buying_power <= balance.cash


def test_quote_is_integer_krw(harness):
    harness.set_market(70_000, 69_900, 70_000)
    quote = harness.broker.quote(harness.symbol)
    assert isinstance(quote, Quote) and (quote.price, quote.bid, quote.ask) == (70_000, 69_900, 70_000)


def test_resting_limit_order_lifecycle(harness):
    h = harness
    h.set_market(70_000, 69_900, 70_000)
    ack = h.broker.place_order(_limit(h, Side.BUY, 10, 69_000, "contract-1"))
    status = h.broker.order_status(ack.broker_order_id)
    assert isinstance(status, OrderStatus)
    assert (status.state, status.remaining, status.price) == (OrderState.ACCEPTED, 10, 69_000)
    h.trade(69_000, 4)
    status = h.broker.order_status(ack.broker_order_id)
    assert (status.state, status.filled_quantity) == (OrderState.PARTIALLY_FILLED, 4)
    assert sum(f.quantity for f in status.fills) == 4 and all(f.fill_id for f in status.fills)
    h.broker.cancel_order(ack.broker_order_id)
    status = h.broker.order_status(ack.broker_order_id)
    assert (status.state, status.remaining, status.cancelled_quantity) == (OrderState.CANCELLED, 0, 6)
    if type(h.broker).capabilities.get("find_order"):
        assert h.broker.find_order("contract-1").broker_order_id == ack.broker_order_id
    assert ack.broker_order_id in [o.broker_order_id for o in h.broker.orders_today()]
    [position] = [p for p in h.broker.positions() if p.symbol == h.symbol]
    assert (position.quantity, position.average_price) == (4, 69_000)


def test_market_orders_fill_and_move_cash_and_holdings(harness):
    h = harness
    h.set_market(70_000, 69_900, 70_000)
    before = h.broker.balance().cash
    buy = h.broker.order_status(h.broker.place_order(
        OrderRequest(h.symbol, Side.BUY, 3, OrderType.MARKET)).broker_order_id)
    assert (buy.state, buy.filled_quantity) == (OrderState.FILLED, 3)
    spent = before - h.broker.balance().cash
    assert spent >= 3 * buy.average_fill_price           # price plus costs
    sell = h.broker.order_status(h.broker.place_order(
        OrderRequest(h.symbol, Side.SELL, 3, OrderType.MARKET)).broker_order_id)
    assert sell.state is OrderState.FILLED
    assert [p for p in h.broker.positions() if p.symbol == h.symbol] == []
    fills = {f.fill_id for o in h.broker.orders_today() for f in o.fills}
    assert len(fills) == sum(len(o.fills) for o in h.broker.orders_today())   # fill ids unique


def test_rejections_and_unknown_orders(harness):
    h = harness
    h.set_market(70_000, 69_900, 70_000)
    with pytest.raises(BrokerRejected):
        h.broker.place_order(_limit(h, Side.BUY, 1, 69_950))   # off the 100-won grid
    with pytest.raises(BrokerRejected):
        h.broker.place_order(_limit(h, Side.SELL, 10**6, 70_000))   # nothing to sell
    with pytest.raises(NotFound):
        h.broker.order_status("0009999999")
