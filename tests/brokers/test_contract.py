"""The Broker contract, run against every adapter and its simulator (style rule 7).

To add an adapter: write a fixture returning a `Venue` (tests/brokers/conftest.py or your own
conftest) and add its name to `VENUES`. A venue whose broker has no exchange behind it may
set `exchange=None`; the checks that need one then skip that part.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from autostock.brokers.base import (AccountInfo, Balance, Broker, OrderRequest, OrderState, OrderType, Side,
                                    UnknownOutcome)
from autostock.brokers.sim.exchange import Exchange
from autostock.errors import AuthError, BrokerRejected, NotFound, ValidationError
from tests.brokers.conftest import KisEnv
from tests.brokers.tr_venues import KiwoomEnv, LsEnv


@dataclasses.dataclass
class Venue:
    broker: Broker
    exchange: Exchange | None
    account_id: str
    arm: Callable[[str], None]                 # "drop_after_order" | "rate_limit"
    orders_received: Callable[[], int]         # order submissions the simulator received
    bad_broker: Callable[[], Broker]           # same venue, credentials it refuses
    symbol: str = "005930"                     # previous close 70,000, maker depth 3


VENUES = ["kis_real_venue", "kis_paper_venue", "ls_paper_venue", "kiwoom_real_venue", "kiwoom_paper_venue"]


def _kis_venue(env: KisEnv, paper: bool) -> Venue:
    creds = env.app(paper=paper)
    sim = env.sim(paper)
    bad = dataclasses.replace(creds, app_key="PS" + "0" * 34)
    return Venue(env.broker(creds), env.exchange, creds.account_number, lambda kind: sim.faults.arm(kind),
                 lambda: sum(1 for r in sim.requests if r.path.endswith("order-cash")),
                 lambda: env.broker(bad))


@pytest.fixture
def kis_real_venue(kis_env: KisEnv) -> Venue:
    return _kis_venue(kis_env, paper=False)


@pytest.fixture
def kis_paper_venue(kis_env: KisEnv) -> Venue:
    return _kis_venue(kis_env, paper=True)


@pytest.fixture
def ls_paper_venue(ls_env: LsEnv) -> Venue:
    creds = ls_env.app(paper=True)
    bad = dataclasses.replace(creds, app_key="PS" + "0" * 32)
    return Venue(ls_env.broker(creds), ls_env.exchange, creds.account_number, lambda kind: ls_env.sim.faults.arm(kind),
                 lambda: sum(1 for r in ls_env.sim.requests if r.headers.get("tr_cd") == "CSPAT00601"),
                 lambda: ls_env.broker(bad))


def _kiwoom_venue(env: KiwoomEnv, paper: bool) -> Venue:
    creds = env.app(paper=paper)
    sim = env.sim(paper)
    bad = dataclasses.replace(creds, app_secret="wrong")
    return Venue(env.broker(creds), env.exchange, creds.account_number, lambda kind: sim.faults.arm(kind),
                 lambda: sum(1 for r in sim.requests if r.headers.get("api-id") in ("kt10000", "kt10001")),
                 lambda: env.broker(bad))


@pytest.fixture
def kiwoom_real_venue(kiwoom_env: KiwoomEnv) -> Venue:
    return _kiwoom_venue(kiwoom_env, paper=False)


@pytest.fixture
def kiwoom_paper_venue(kiwoom_env: KiwoomEnv) -> Venue:
    return _kiwoom_venue(kiwoom_env, paper=True)


@pytest.fixture(params=VENUES)
def venue(request: pytest.FixtureRequest) -> Venue:
    return request.getfixturevalue(request.param)


def _ints(obj: object) -> None:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        assert not isinstance(value, float), f"{type(obj).__name__}.{f.name} is a float"


def test_account_surface(venue: Venue) -> None:
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


def test_order_lifecycle(venue: Venue) -> None:
    b, ex, sym = venue.broker, venue.exchange, venue.symbol
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


def test_modify_quote_and_bars(venue: Venue) -> None:
    b, sym = venue.broker, venue.symbol
    ack = b.place_order(OrderRequest(sym, Side.BUY, 2, OrderType.LIMIT, 69_000))
    new = b.modify_order(ack.broker_order_id, 2, 69_500)
    assert b.order_status(new.broker_order_id).price == 69_500
    q = b.quote(sym)
    _ints(q)
    assert q.price > 0 and q.lower_limit < q.price < q.upper_limit
    bars = b.daily_bars(sym, dt.date(2026, 1, 1), dt.date(2026, 2, 27))
    assert bars and all(isinstance(x.close, int) for x in bars)


def test_error_translation(venue: Venue) -> None:
    b, sym = venue.broker, venue.symbol
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


def test_lost_answer_is_unknown_and_resolvable(venue: Venue) -> None:
    b = venue.broker
    b.connect()
    venue.arm("drop_after_order")
    with pytest.raises(UnknownOutcome):
        b.place_order(OrderRequest(venue.symbol, Side.BUY, 1, OrderType.LIMIT, 69_000, "lost-1"))
    found = b.find_order("lost-1")
    assert found is not None and found.quantity == 1 and found.state == OrderState.ACCEPTED
    assert venue.orders_received() == 1
