"""Paper matcher: resting limit orders filled by ticks arriving through real NATS.

To show that a tick did NOT fill an order, the test sends, after it, a tick that fills a
"sentinel" order of another symbol: the matcher handles ticks in order, so once the sentinel
is filled the earlier tick has been handled.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from autostock.brokers.base import OrderState, Side
from autostock.brokers.paper import model
from autostock.market.quotes import Tick
from tests.helpers import eventually

from .conftest import SESSION_TIME
from .test_paper_rules import limit, market

TICK_AT = SESSION_TIME + dt.timedelta(minutes=1)


@pytest.fixture
def publish(resources):
    def send(code: str, price: int, volume: int, seq: str = "", at: dt.datetime = TICK_AT) -> None:
        resources.events.publish(f"ticks.{code}", Tick(code, price, volume, at, seq).to_json())
    return send


@pytest.fixture
def fill_events(resources, settings):
    received: list[dict] = []

    async def subscribe(client):
        async def collect(msg):
            received.append(json.loads(msg.data))
        return await client.subscribe(settings.subject("orders.fill"), cb=collect)

    sub = resources.events.call(subscribe)
    yield received
    resources.events.call(lambda client: sub.unsubscribe())


@pytest.fixture
def handled(paper_factory, set_quote, publish):
    """`handled()` returns once every tick published before it has been through the matcher."""
    def wait() -> None:
        code = "S" + uuid.uuid4().hex[:5].upper()
        broker = paper_factory()
        set_quote(code, 10_000, bid=9_990, ask=10_000)
        oid = broker.place_order(limit(code, Side.BUY, 1, 9_900)).broker_order_id
        publish(code, 9_900, 1)
        eventually(lambda: broker.order_status(oid).state is OrderState.FILLED)
    return wait


def test_limit_buy_fills_at_its_limit_on_a_crossing_tick_and_not_before(
        matcher, paper, set_quote, publish, handled, fill_events, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 10, 69_000)).broker_order_id
    publish(symbol, 69_100, 500)                                  # above the bid limit: no fill
    publish(symbol, 68_900, 5, at=SESSION_TIME - dt.timedelta(seconds=1))  # printed before the order
    handled()
    status = paper.order_status(oid)
    assert (status.state, status.filled_quantity) == (OrderState.ACCEPTED, 0)

    publish(symbol, 68_900, 100, seq="trade-1")                   # through the limit
    status = eventually(lambda: (s := paper.order_status(oid)).state is OrderState.FILLED and s)
    assert [(f.quantity, f.price) for f in status.fills] == [(10, 69_000)]   # at the limit, not 68,900
    assert status.fills[0].fill_id == f"{oid}-ttrade-1"
    # 690,000 + commission 96.
    assert paper.balance().cash == 10_000_000 - 690_096
    event = eventually(lambda: [e for e in fill_events if e["broker_order_id"] == oid])[0]
    assert {k: event[k] for k in ("broker", "account_id", "user_id", "symbol", "side", "quantity", "price",
                                  "commission", "tax", "order_state", "remaining")} == {
        "broker": "paper", "account_id": paper.account_id, "user_id": paper.user_id, "symbol": symbol,
        "side": "buy", "quantity": 10, "price": 69_000, "commission": 96, "tax": 0,
        "order_state": "filled", "remaining": 0}


def test_limit_sell_fills_when_a_tick_touches_it(matcher, paper, set_quote, publish, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    paper.place_order(market(symbol, Side.BUY, 4))
    oid = paper.place_order(limit(symbol, Side.SELL, 4, 72_000)).broker_order_id
    publish(symbol, 72_000, 10)
    status = eventually(lambda: (s := paper.order_status(oid)).state is OrderState.FILLED and s)
    assert status.average_fill_price == 72_000
    assert paper.positions() == []


def test_fills_are_capped_by_traded_volume(matcher, paper, set_quote, publish, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 10, 69_000)).broker_order_id
    publish(symbol, 69_000, 3, seq="a")
    status = eventually(lambda: (s := paper.order_status(oid)).filled_quantity == 3 and s)
    assert status.state is OrderState.PARTIALLY_FILLED and status.remaining == 7
    publish(symbol, 68_900, 50, seq="b")
    status = eventually(lambda: (s := paper.order_status(oid)).state is OrderState.FILLED and s)
    assert [f.quantity for f in status.fills] == [3, 7]


def test_a_redelivered_tick_fills_nothing_twice(matcher, paper, set_quote, publish, handled, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 10, 69_000)).broker_order_id
    publish(symbol, 69_000, 3, seq="dup")
    publish(symbol, 69_000, 3, seq="dup")
    handled()
    status = paper.order_status(oid)
    assert (status.filled_quantity, len(status.fills)) == (3, 1)


def test_cancelled_orders_and_malformed_ticks_are_skipped(matcher, paper, set_quote, publish, handled,
                                                          resources, symbol):
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 10, 69_000)).broker_order_id
    paper.cancel_order(oid)
    resources.events.publish(f"ticks.{symbol}", b"not json")
    resources.events.publish(f"ticks.{symbol}", {"code": symbol, "price": -1, "volume": 1, "at": "x"})
    publish(symbol, 68_000, 100)
    handled()
    assert paper.order_status(oid).filled_quantity == 0


def test_matcher_on_tick_is_idempotent_without_nats(resources, paper, set_quote, symbol):
    from autostock.brokers.paper import Matcher
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 2, 69_000)).broker_order_id
    tick = Tick(symbol, 69_000, 5, TICK_AT, "once")
    first = Matcher(resources).on_tick(tick)
    assert [a.fill.quantity for a in first] == [2]
    assert Matcher(resources).on_tick(tick) == []
    assert paper.order_status(oid).state is OrderState.FILLED


def test_a_price_modified_after_the_book_was_read_fills_only_if_the_trade_reaches_it(
        resources, paper, set_quote, symbol, clock):
    """The matcher reads the book, then fills each order under its lock: a modify that came in
    between must not get a fill at a price the trade never reached."""
    from autostock.brokers.paper import Matcher
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 5, 69_900)).broker_order_id

    class ModifiedMeanwhile(Matcher):
        def book(self, codes):
            read = super().book(codes)
            clock.at = TICK_AT + dt.timedelta(seconds=1)
            paper.modify_order(oid, 5, 69_000)
            return read
    assert ModifiedMeanwhile(resources).on_tick(Tick(symbol, 69_900, 10, TICK_AT, "m1")) == []
    status = paper.order_status(oid)
    assert (status.state, status.filled_quantity, status.price) == (OrderState.ACCEPTED, 0, 69_000)


def test_one_order_that_fails_to_fill_does_not_cost_the_others_theirs(resources, paper_factory, set_quote,
                                                                       symbol):
    """Ticks are not redelivered: an order whose fill raises is logged and skipped, and the
    batch's other orders, another user's included, still fill."""
    from autostock.brokers.paper import Matcher
    first, second = paper_factory(), paper_factory()
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    failing = first.place_order(limit(symbol, Side.BUY, 1, 69_900)).broker_order_id
    other = second.place_order(limit(symbol, Side.BUY, 1, 69_800)).broker_order_id
    matcher = Matcher(resources)
    fill = matcher._fill

    def flaky(account_id, order_id, quantity, tick):
        if order_id == int(failing):
            raise RuntimeError("the connection dropped")
        return fill(account_id, order_id, quantity, tick)
    matcher._fill = flaky
    done = matcher.on_ticks([Tick(symbol, 69_900, 1, TICK_AT, "f1"), Tick(symbol, 69_800, 2, TICK_AT, "f2")])
    assert [d.fill.broker_order_id for d in done] == [other]
    assert second.order_status(other).state is OrderState.FILLED
    assert first.order_status(failing).state is OrderState.ACCEPTED


def test_allocation_follows_price_then_time_priority():
    older = model.Resting(order_id=1, side=Side.BUY, price=69_000, remaining=5)
    better = model.Resting(order_id=2, side=Side.BUY, price=69_500, remaining=3)
    newer = model.Resting(order_id=3, side=Side.BUY, price=69_000, remaining=5)
    away = model.Resting(order_id=4, side=Side.BUY, price=68_000, remaining=5)
    seller = model.Resting(order_id=5, side=Side.SELL, price=68_500, remaining=9)
    plan = model.allocate([newer, away, older, better, seller], 68_900, 6, partial_fills=True)
    assert [(o.order_id, q) for o, q in plan] == [(2, 3), (1, 3), (5, 6)]
    whole = model.allocate([newer, older], 69_000, 1, partial_fills=False)
    assert [(o.order_id, q) for o, q in whole] == [(1, 5), (3, 5)]


def test_paper_matcher_runs_as_a_process_and_stops_on_sigterm(settings, paper, set_quote, publish, symbol):
    import os
    import signal
    import subprocess
    import sys
    env = {**os.environ, "DATABASE_URL": settings.database_url.reveal(), "REDIS_URL": settings.redis_url.reveal(),
           "NATS_URL": settings.nats_url, "JWT_SECRET": settings.jwt_secret.reveal(),
           "ENCRYPTION_KEYS": settings.encryption_keys.reveal(), "REDIS_PREFIX": settings.redis_prefix,
           "NATS_PREFIX": settings.nats_prefix, "SECRETS_DIR": "/nonexistent"}
    proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "paper-matcher"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        set_quote(symbol, 70_000, bid=69_900, ask=70_000)
        oid = paper.place_order(limit(symbol, Side.BUY, 100, 69_000)).broker_order_id
        seq = iter(range(10_000))

        def filled_once_running() -> bool:
            # Until the process has subscribed, ticks go nowhere: keep sending 1-share trades.
            publish(symbol, 69_000, 1, seq=f"p{next(seq)}")
            return paper.order_status(oid).filled_quantity > 0
        eventually(filled_once_running, timeout=30, interval=0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert code == 0, proc.stderr.read().decode()[-2000:]


def test_a_batch_of_ticks_sees_the_fills_of_earlier_ticks(resources, paper, set_quote, symbol):
    from autostock.brokers.paper import Matcher
    set_quote(symbol, 70_000, bid=69_900, ask=70_000)
    oid = paper.place_order(limit(symbol, Side.BUY, 5, 69_000)).broker_order_id
    ticks = [Tick(symbol, 69_000, 3, TICK_AT, "b1"), Tick(symbol, 68_900, 3, TICK_AT, "b2"),
             Tick(symbol, 68_800, 3, TICK_AT, "b3"), Tick(symbol, 68_800, 3, TICK_AT, "b1")]
    done = Matcher(resources).on_ticks(ticks)
    assert [(a.fill.fill_id, a.fill.quantity) for a in done] == [(f"{oid}-tb1", 3), (f"{oid}-tb2", 2)]
    assert paper.order_status(oid).state is OrderState.FILLED
    assert Matcher(resources).on_ticks([]) == []
