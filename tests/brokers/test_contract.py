"""The broker contract: every adapter, the same behaviour through `base.Broker` (style rule 7).

Each adapter contributes a `<name>_adapter` fixture returning an `Adapter`: a connected broker,
two hooks that move its market (its simulator's exchange, or Redis quotes for paper), and, for
adapters with a broker simulator behind them, the simulator's hooks (fault arming, order
count, refused credentials, the shared exchange). To add an adapter: write the fixture (in
tests/brokers/conftest.py or here) and add its name to ADAPTERS (and SIM_ADAPTERS if it talks to
a simulator). Checks that need simulator hooks run over SIM_ADAPTERS: the paper broker has no
broker server to fault, no credentials to refuse and no exchange book.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import uuid
from collections.abc import Callable

import pytest

from autostock.brokers.base import (AccountInfo, Balance, Broker, OrderRequest, OrderState, OrderStatus,
                                    OrderType, Quote, Side, UnknownOutcome)
from autostock.brokers.sim.exchange import Exchange
from autostock.errors import AuthError, BrokerRejected, NotFound, ValidationError
from tests.brokers.conftest import KisEnv
from tests.brokers.tr_venues import KiwoomEnv, LsEnv

ADAPTERS = ["paper", "kis", "kis_paper", "ls", "kiwoom", "kiwoom_paper"]
SIM_ADAPTERS = [name for name in ADAPTERS if name != "paper"]


@dataclasses.dataclass
class Adapter:
    broker: Broker
    symbol: str                                # a code of this test alone, deep book at 70,000
    # set_market(price, bid, ask): the last trade and best prices; previous close = price.
    set_market: Callable[[int, int, int], None]
    # trade(price, volume): a trade prints at `price`; resting orders it reaches fill (returns when done).
    trade: Callable[[int, int], None]
    # Simulator hooks; None for the paper broker.
    exchange: Exchange | None = None
    account_id: str = ""
    arm: Callable[[str], None] | None = None               # "drop_after_order" | "rate_limit"
    orders_received: Callable[[], int] | None = None       # order submissions the simulator received
    bad_broker: Callable[[], Broker] | None = None         # same venue, credentials it refuses
    book_symbol: str = "005930"                # previous close 70,000, maker depth 3


@pytest.fixture
def paper_adapter(paper_factory, set_quote, resources, clock) -> Adapter:
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

    return Adapter(broker=paper_factory(cash=10_000_000), symbol=symbol, set_market=set_market, trade=trade)


def _sim_adapter(env: KisEnv | LsEnv | KiwoomEnv, paper: bool, sim: object, bad: dict[str, str],
                 is_order: Callable[[object], bool]) -> Adapter:
    """A broker on one of the exchange-backed simulators (KIS, LS, Kiwoom)."""
    symbol = "C" + uuid.uuid4().hex[:5].upper()
    env.exchange.add_instrument(symbol, 70_000, depth=1_000)
    creds = env.app(paper=paper)
    broker = env.broker(creds)
    broker.connect()
    refused = dataclasses.replace(creds, **bad)
    return Adapter(broker=broker, symbol=symbol,
                   set_market=lambda price, bid, ask: env.exchange.set_market(symbol, price, bid, ask),
                   trade=lambda price, volume: env.exchange.trade(symbol, price, volume),
                   exchange=env.exchange, account_id=creds.account_number,
                   arm=lambda kind: sim.faults.arm(kind),
                   orders_received=lambda: sum(1 for r in sim.requests if is_order(r)),
                   bad_broker=lambda: env.broker(refused))


def _kis(env: KisEnv, paper: bool) -> Adapter:
    return _sim_adapter(env, paper, env.sim(paper), {"app_key": "PS" + "0" * 34},
                        lambda r: r.path.endswith("order-cash"))


def _kiwoom(env: KiwoomEnv, paper: bool) -> Adapter:
    return _sim_adapter(env, paper, env.sim(paper), {"app_secret": "wrong"},
                        lambda r: r.headers.get("api-id") in ("kt10000", "kt10001"))


@pytest.fixture
def kis_adapter(kis_env: KisEnv) -> Adapter:
    return _kis(kis_env, paper=False)


@pytest.fixture
def kis_paper_adapter(kis_env: KisEnv) -> Adapter:
    return _kis(kis_env, paper=True)


@pytest.fixture
def ls_adapter(ls_env: LsEnv) -> Adapter:
    return _sim_adapter(ls_env, True, ls_env.sim, {"app_key": "PS" + "0" * 32},
                        lambda r: r.headers.get("tr_cd") == "CSPAT00601")


@pytest.fixture
def kiwoom_adapter(kiwoom_env: KiwoomEnv) -> Adapter:
    return _kiwoom(kiwoom_env, paper=False)


@pytest.fixture
def kiwoom_paper_adapter(kiwoom_env: KiwoomEnv) -> Adapter:
    return _kiwoom(kiwoom_env, paper=True)


@pytest.fixture(params=ADAPTERS)
def harness(request: pytest.FixtureRequest) -> Adapter:
    return request.getfixturevalue(f"{request.param}_adapter")


@pytest.fixture(params=SIM_ADAPTERS)
def venue(request: pytest.FixtureRequest) -> Adapter:
    return request.getfixturevalue(f"{request.param}_adapter")


def _ints(obj: object) -> None:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        assert not isinstance(value, float), f"{type(obj).__name__}.{f.name} is a float"


def _limit(h: Adapter, side: Side, quantity: int, price: int, client_order_id: str = "") -> OrderRequest:
    return OrderRequest(h.symbol, side, quantity, OrderType.LIMIT, price, client_order_id)


# ---- every adapter ----
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


# ---- adapters with a broker simulator behind them (faults, refused credentials, exchange book) ----

def test_account_surface(venue: Adapter) -> None:
    b = venue.broker
    b.connect()
    b.connect()                                   # idempotent
    info = b.account_info()
    assert isinstance(info, AccountInfo) and info.broker == b.name
    assert venue.account_id not in info.account_number   # masked
    bal = b.balance()
    assert isinstance(bal, Balance) and bal.cash == bal.buying_power > 0
    _ints(bal)
    assert b.positions() == []


def test_order_lifecycle(venue: Adapter) -> None:
    b, ex, sym = venue.broker, venue.exchange, venue.book_symbol
    ack = b.place_order(OrderRequest(sym, Side.BUY, 10, OrderType.LIMIT, 70_100, "contract-1"))
    first = b.order_status(ack.broker_order_id)
    assert (first.state, first.filled_quantity, first.remaining) == (OrderState.PARTIALLY_FILLED, 3, 7)
    _ints(first)
    if ex is not None:
        ex.trade(sym, 70_000, 2)
    b.cancel_order(ack.broker_order_id)
    done = b.order_status(ack.broker_order_id)
    assert done.state == OrderState.CANCELLED and done.remaining == 0
    assert done.filled_quantity + done.cancelled_quantity == 10
    sell = b.place_order(OrderRequest(sym, Side.SELL, done.filled_quantity, OrderType.MARKET))
    if ex is not None and b.order_status(sell.broker_order_id).remaining:
        ex.trade(sym, 69_900, 100)                # the rest of the market sell meets a later print
    sold = b.order_status(sell.broker_order_id)
    assert sold.state == OrderState.FILLED and sold.filled_quantity == done.filled_quantity
    orders = b.orders_today()
    assert {o.broker_order_id for o in orders} >= {ack.broker_order_id, sell.broker_order_id}
    assert sum(f.quantity for o in orders for f in o.fills if f.side == Side.BUY) == done.filled_quantity
    assert [p for p in b.positions() if p.quantity] == []
    if ex is not None:
        assert b.balance().cash == ex.account(venue.account_id).cash


def test_modify_quote_and_bars(venue: Adapter) -> None:
    b, sym = venue.broker, venue.book_symbol
    ack = b.place_order(OrderRequest(sym, Side.BUY, 2, OrderType.LIMIT, 69_000))
    new = b.modify_order(ack.broker_order_id, 2, 69_500)
    assert b.order_status(new.broker_order_id).price == 69_500
    q = b.quote(sym)
    _ints(q)
    assert q.price > 0 and q.lower_limit < q.price < q.upper_limit
    bars = b.daily_bars(sym, dt.date(2026, 1, 1), dt.date(2026, 2, 27))
    assert bars and all(isinstance(x.close, int) for x in bars)


def test_error_translation(venue: Adapter) -> None:
    b, sym = venue.broker, venue.book_symbol
    with pytest.raises(BrokerRejected) as e:
        b.place_order(OrderRequest(sym, Side.BUY, 1, OrderType.LIMIT, 70_050))       # off the tick grid
    assert e.value.details["broker"] == b.name and e.value.details["broker_code"] and e.value.details["broker_message"]
    with pytest.raises(BrokerRejected):
        b.place_order(OrderRequest(sym, Side.SELL, 1, OrderType.LIMIT, 70_000))      # nothing to sell
    with pytest.raises(ValidationError):
        b.place_order(OrderRequest(sym, Side.BUY, 0, OrderType.LIMIT, 70_000))
    with pytest.raises(ValidationError):
        b.quote("not-a-symbol")
    with pytest.raises(NotFound):
        b.order_status("0000000000" if b.name == "kis" else "999999999")
    with pytest.raises(AuthError):
        venue.bad_broker().connect()
    venue.arm("rate_limit")
    assert b.quote(sym).price > 0                 # retried after back-off


def test_lost_answer_is_unknown_and_resolvable(venue: Adapter) -> None:
    b = venue.broker
    b.connect()
    venue.arm("drop_after_order")
    with pytest.raises(UnknownOutcome):
        b.place_order(OrderRequest(venue.book_symbol, Side.BUY, 1, OrderType.LIMIT, 69_000, "lost-1"))
    found = b.find_order("lost-1")
    assert found is not None and found.quantity == 1 and found.state == OrderState.ACCEPTED
    assert venue.orders_received() == 1
