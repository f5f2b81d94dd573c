"""Market-data fixtures: the symbol master loaded once per run, KRX files from ../shared."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator

import pytest

from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import ManualClock
from autostock.brokers.sim.kis import KisApps, KisSim
from autostock.brokers.sim.kis_ws import KisWebsocketSim
from autostock.config import Secret
from autostock.market.calendar import SEOUL
from autostock.market.collector import Collector, CollectorConfig

from autostock.market import symbols
from autostock.market.commands import DEMO_LISTING, _data_file
from tests.helpers import SHARED_DATA

KRX = SHARED_DATA / "krx"


@pytest.fixture(scope="session")
def listed(resources) -> dict[str, int]:
    """The shipped listing (every KRX code) plus the index pseudo-symbols, loaded once."""
    symbols.load_listing(resources.pool, _data_file(DEMO_LISTING))
    return symbols.known_codes(resources.pool)


TRADING_DAY = dt.datetime(2026, 3, 3, 10, 0, tzinfo=SEOUL)
CODES = ("005930", "000660", "005380", "035420", "051910", "035720", "068270")


@pytest.fixture
def exchange() -> Exchange:
    ex = Exchange(clock=ManualClock(TRADING_DAY), seed=5)
    for i, code in enumerate(CODES):
        ex.add_instrument(code, 50_000 + 10_000 * i, depth=5)
    return ex


@pytest.fixture
def kis_ws(exchange: Exchange) -> Iterator[KisWebsocketSim]:
    sim = KisWebsocketSim(exchange, seed=7).start()
    for i in range(1, 6):
        sim.approvals[f"AK{i}"] = f"app{i}"   # one appkey per session (KIS refuses a second)
    yield sim
    sim.stop()


class Running:
    """A collector or stream server on its own event loop thread; `stop()` ends it cleanly."""

    def __init__(self, service) -> None:   # a Collector or a StreamServer: run() and stop()
        self.collector = self.service = service
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.service.run())
        except BaseException as e:  # surfaced by stop()
            self.error = e

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.service.stop)
        self.thread.join(20)
        assert not self.thread.is_alive(), "collector did not stop"
        if self.error:
            raise self.error


@pytest.fixture
def run_collector(settings, resources):
    started: list[Running] = []

    def start(url: str, universe, keys=("AK1",), **options) -> Running:
        config = CollectorConfig(url=url, approval_keys=list(keys), universe=list(universe),
                                 close_on_wall_clock=False, flush_interval=0.1, backoff_initial=0.05,
                                 backoff_max=0.3, **options)
        running = Running(Collector(settings, resources.pool, config))
        started.append(running)
        return running

    yield start
    for r in started:
        if r.thread.is_alive():
            r.stop()


class Tap:
    """Collects the messages of a NATS subject (prefix added) on the event bus's loop."""

    def __init__(self, resources, subject: str) -> None:
        self.messages: list[dict] = []

        async def sub(client):
            async def on(msg):
                self.messages.append(json.loads(msg.data))
            return await client.subscribe(resources.settings.subject(subject), cb=on)

        self._sub = resources.events.call(sub)
        self._resources = resources

    def close(self) -> None:
        self._resources.events.call(lambda client: self._sub.unsubscribe())


@pytest.fixture
def tap(resources):
    taps: list[Tap] = []

    def make(subject: str) -> Tap:
        taps.append(Tap(resources, subject))
        return taps[-1]

    yield make
    for t in taps:
        t.close()


@pytest.fixture
def kis_rest(exchange: Exchange, kis_ws: KisWebsocketSim) -> Iterator[KisSim]:
    sim = KisSim(exchange, apps=KisApps(), ws=kis_ws, seed=1).start()
    yield sim
    sim.stop()


@pytest.fixture
def market_settings(settings, kis_rest: KisSim, kis_ws: KisWebsocketSim):
    """Settings whose platform KIS market-data apps (two) live on the simulators."""
    pairs = []
    for _ in range(2):
        appkey, secret = "PS" + uuid.uuid4().hex + "AB", uuid.uuid4().hex * 5 + "x" * 20
        kis_rest.add_app(appkey, secret, f"{uuid.uuid4().int % 10**8:08d}-01")
        pairs.append(f"{appkey}:{secret}")
    return settings.with_overrides(kis_real_url=kis_rest.url, kis_ws_url=kis_ws.url,
                                   kis_market_keys=Secret(",".join(pairs)))
