"""Broker fixtures: the paper broker (settable clock, quotes in Redis, paper accounts), and an
exchange on a manual clock at a trading hour with the KIS simulators."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.kis.broker import KisBroker
from autostock.brokers.paper import PaperBroker, PaperConfig, run_matcher
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import SEOUL as SIM_SEOUL
from autostock.brokers.sim.feed import ManualClock
from autostock.brokers.sim.kis import KisApps, KisSim
from autostock.brokers.sim.kis_ws import KisWebsocketSim
from autostock.brokers.sim.kiwoom import KiwoomSim
from autostock.brokers.sim.ls import LsSim
from autostock.brokers.sim.tr_server import SimApp
from autostock.config import Settings
from autostock.market.quotes import StoredQuote, write_quote
from autostock.resources import Resources
from tests.brokers.tr_venues import KiwoomEnv, LsEnv

from tests.helpers import SESSION_TIME, SettableClock


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(SESSION_TIME)


@pytest.fixture
def symbol() -> str:
    """A code of this test alone, so the matcher never sees another test's orders."""
    return "T" + uuid.uuid4().hex[:5].upper()


@pytest.fixture
def set_quote(resources) -> Callable[..., StoredQuote]:
    def put(code: str, price: int, *, bid: int = 0, ask: int = 0, prev_close: int | None = None,
            market: str = "KOSPI", volume: int = 1_000, at: dt.datetime = SESSION_TIME) -> StoredQuote:
        quote = StoredQuote(code=code, price=price, bid=bid, ask=ask, volume=volume,
                            prev_close=price if prev_close is None else prev_close, at=at, market=market)
        write_quote(resources.redis, resources.settings, quote)
        return quote
    return put


@pytest.fixture
def paper_factory(resources, user_factory, clock) -> Callable[..., PaperBroker]:
    """`paper_factory(cash=10_000_000, user=None, config=None)` → a connected PaperBroker."""
    def make(cash: int = 10_000_000, user: dict | None = None, config: PaperConfig | None = None,
             account_id: str | None = None) -> PaperBroker:
        user = user or user_factory()
        broker = PaperBroker(resources, account_id or str(uuid.uuid4()), user["id"], clock=clock,
                             starting_cash=cash, config=config)
        broker.connect()
        return broker
    return make


@pytest.fixture
def paper(paper_factory) -> PaperBroker:
    return paper_factory()


@pytest.fixture
def matcher(settings) -> Iterator[None]:
    """The paper matcher on a thread, consuming this run's `ticks.>` through real NATS."""
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_matcher, args=(settings, stop), kwargs={"ready": ready},
                              name="paper-matcher", daemon=True)
    thread.start()
    assert ready.wait(10), "paper matcher did not subscribe"
    yield
    stop.set()
    thread.join(10)


TRADING_MORNING = dt.datetime(2026, 3, 3, 10, 0, tzinfo=SIM_SEOUL)


@pytest.fixture
def exchange() -> Exchange:
    ex = Exchange(clock=ManualClock(TRADING_MORNING), seed=11)
    ex.add_instrument("005930", 70_000, name="삼성전자", depth=3)
    ex.add_instrument("000660", 200_000, name="SK하이닉스", depth=50)
    return ex


@pytest.fixture
def kis_ws(exchange: Exchange) -> Iterator[KisWebsocketSim]:
    sim = KisWebsocketSim(exchange, seed=3).start()
    yield sim
    sim.stop()


@dataclass
class KisEnv:
    """A real and a paper KIS host sharing one exchange, plus the realtime endpoint."""

    exchange: Exchange
    real: KisSim
    paper: KisSim
    ws: KisWebsocketSim
    settings: Settings
    redis: object

    def app(self, *, paper: bool = False, cash: int = 10_000_000, hts_id: str = "") -> BrokerCredentials:
        appkey = "PS" + uuid.uuid4().hex + "AB"            # 36 characters like a KIS app key
        secret = uuid.uuid4().hex * 5 + "x" * 20          # 180 characters
        account = f"{uuid.uuid4().int % 10**8:08d}-01"
        (self.paper if paper else self.real).add_app(appkey, secret, account, cash=cash, hts_id=hts_id)
        return BrokerCredentials(appkey, secret, account, "", paper=paper)

    def broker(self, credentials: BrokerCredentials, **options: object) -> KisBroker:
        options.setdefault("token_issue_interval", 0)
        return KisBroker(self.settings, credentials, self.redis, clock=self.exchange.clock.now, **options)

    def sim(self, paper: bool) -> KisSim:
        return self.paper if paper else self.real


@pytest.fixture
def kis_env(exchange: Exchange, settings: Settings, resources: Resources) -> Iterator[KisEnv]:
    ws = KisWebsocketSim(exchange, seed=5).start()
    apps = KisApps()
    real = KisSim(exchange, apps=apps, ws=ws, seed=1).start()
    paper = KisSim(exchange, paper=True, apps=apps, seed=2).start()
    local = settings.with_overrides(kis_real_url=real.url, kis_paper_url=paper.url, kis_ws_url=ws.url)
    yield KisEnv(exchange, real, paper, ws, local, resources.redis)
    for server in (real, paper, ws):
        server.stop()


# ---- LS and Kiwoom (environments in tests/brokers/tr_venues.py) ----
@pytest.fixture
def ls_env(exchange: Exchange, settings: Settings, resources: Resources) -> Iterator[LsEnv]:
    sim = LsSim(exchange, rate=100.0, seed=4).start()
    yield LsEnv(exchange, sim, settings.with_overrides(ls_url=sim.url), resources.redis)
    sim.stop()


@pytest.fixture
def kiwoom_env(exchange: Exchange, settings: Settings, resources: Resources) -> Iterator[KiwoomEnv]:
    apps: dict[str, SimApp] = {}
    real = KiwoomSim(exchange, apps=apps, rate=100.0, seed=6).start()
    paper = KiwoomSim(exchange, paper=True, apps=apps, rate=100.0, seed=7).start()
    local = settings.with_overrides(kiwoom_real_url=real.url, kiwoom_paper_url=paper.url)
    yield KiwoomEnv(exchange, real, paper, local, resources.redis)
    real.stop()
    paper.stop()
