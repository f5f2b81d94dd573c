"""Broker fixtures: an exchange on a manual clock at a trading hour, and the KIS simulators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import SEOUL, ManualClock
from autostock.brokers.sim.kis_ws import KisWebsocketSim

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
