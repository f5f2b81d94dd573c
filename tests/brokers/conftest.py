"""Broker fixtures: an exchange on a manual clock at a trading hour, and the KIS simulators."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.kis.broker import KisBroker
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import SEOUL, ManualClock
from autostock.brokers.sim.kis import KisApps, KisSim
from autostock.brokers.sim.kis_ws import KisWebsocketSim
from autostock.config import Settings
from autostock.resources import Resources

TRADING_MORNING = dt.datetime(2026, 3, 3, 10, 0, tzinfo=SEOUL)


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
