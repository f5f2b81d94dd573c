"""LS and Kiwoom test environments: a simulator (or two) on the shared exchange, and adapters
pointed at them. The fixtures that build them live in conftest.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.kiwoom.broker import KiwoomBroker
from autostock.brokers.ls.broker import LsBroker
from autostock.brokers.ls.client import TR_RATES
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.kiwoom import KiwoomSim
from autostock.brokers.sim.ls import LsSim
from autostock.config import Settings

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


def busiest_second(arrivals: list[float]) -> int:
    """The most requests that arrived within any one second."""
    arrivals = sorted(arrivals)
    return max(sum(1 for t in arrivals[i:] if t - start < 1.0) for i, start in enumerate(arrivals))
