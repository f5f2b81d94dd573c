"""Fixtures for the LS and Kiwoom simulators and adapters (imported by the test modules)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.kiwoom.broker import KiwoomBroker
from autostock.brokers.ls.broker import LsBroker
from autostock.brokers.ls.client import TR_RATES
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.kiwoom import KiwoomSim
from autostock.brokers.sim.ls import LsSim
from autostock.brokers.sim.tr_server import SimApp
from autostock.config import Settings
from autostock.resources import Resources

FAST = {tr: 50.0 for tr in TR_RATES}        # tests run the flow quickly; pacing tests set their own


@dataclass
class LsEnv:
    exchange: Exchange
    sim: LsSim
    settings: Settings
    redis: Any

    def app(self, *, paper: bool = True, cash: int = 10_000_000) -> BrokerCredentials:
        appkey, secret = "PS" + uuid.uuid4().hex, uuid.uuid4().hex * 2
        account = f"{uuid.uuid4().int % 10**11:011d}"
        self.sim.add_app(appkey, secret, account, cash=cash, paper=paper)
        return BrokerCredentials(appkey, secret, account, "0000", paper=paper)

    def broker(self, credentials: BrokerCredentials, **options: Any) -> LsBroker:
        options.setdefault("token_issue_interval", 0)
        options.setdefault("tr_rates", FAST)
        return LsBroker(self.settings, credentials, self.redis, clock=self.exchange.clock.now, **options)


@pytest.fixture
def ls_env(exchange: Exchange, settings: Settings, resources: Resources) -> Iterator[LsEnv]:
    sim = LsSim(exchange, rate=100.0, seed=4).start()
    yield LsEnv(exchange, sim, settings.with_overrides(ls_url=sim.url), resources.redis)
    sim.stop()


@dataclass
class KiwoomEnv:
    exchange: Exchange
    real: KiwoomSim
    paper: KiwoomSim
    settings: Settings
    redis: Any

    def app(self, *, paper: bool = True, cash: int = 10_000_000) -> BrokerCredentials:
        appkey, secret = uuid.uuid4().hex[:20] + "KW", uuid.uuid4().hex * 2
        account = f"{uuid.uuid4().int % 10**10:010d}"
        self.sim(paper).add_app(appkey, secret, account, cash=cash, paper=paper)
        return BrokerCredentials(appkey, secret, account, "", paper=paper)

    def sim(self, paper: bool) -> KiwoomSim:
        return self.paper if paper else self.real

    def broker(self, credentials: BrokerCredentials, **options: Any) -> KiwoomBroker:
        options.setdefault("token_issue_interval", 0)
        options.setdefault("rate", 50.0)
        return KiwoomBroker(self.settings, credentials, self.redis, clock=self.exchange.clock.now, **options)


@pytest.fixture
def kiwoom_env(exchange: Exchange, settings: Settings, resources: Resources) -> Iterator[KiwoomEnv]:
    apps: dict[str, SimApp] = {}
    real = KiwoomSim(exchange, apps=apps, rate=100.0, seed=6).start()
    paper = KiwoomSim(exchange, paper=True, apps=apps, rate=100.0, seed=7).start()
    local = settings.with_overrides(kiwoom_real_url=real.url, kiwoom_paper_url=paper.url)
    yield KiwoomEnv(exchange, real, paper, local, resources.redis)
    real.stop()
    paper.stop()
