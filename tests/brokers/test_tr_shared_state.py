"""What the LS and Kiwoom adapters share through Redis: one token for every process, re-issued
once when it expires, and pacing per app key that keeps a burst under the simulator's limit."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
import redis as redis_lib

from autostock.brokers.base import Broker, BrokerCredentials
from autostock.brokers.kiwoom.broker import KiwoomBroker
from autostock.brokers.ls.broker import LsBroker
from autostock.config import Settings
from tests.brokers.tr_venues import FAST, busiest_second

LIMIT = 20.0


def _make(kind: str, settings: Settings, creds: BrokerCredentials, redis: Any, rate: float = 50.0) -> Broker:
    if kind == "ls":
        return LsBroker(settings, creds, redis, token_issue_interval=0, tr_rates={**FAST, "t1102": rate})
    return KiwoomBroker(settings, creds, redis, token_issue_interval=0, rate=rate)


def _child(kind: str, settings: Settings, creds: BrokerCredentials, go: Any, again: Any, out: Any) -> None:
    broker = _make(kind, settings, creds, redis_lib.Redis.from_url(settings.redis_url.reveal(), decode_responses=True))
    go.wait(60)
    out.put(broker.client.token())
    again.wait(60)
    broker.quote("005930")                         # refused once the token expired → re-issued
    out.put(broker.client.token())


@pytest.fixture(params=["ls", "kiwoom"])
def venue(request: pytest.FixtureRequest) -> tuple[str, Any, Any]:
    """(kind, env, the simulator the app talks to)."""
    if request.param == "ls":
        env: Any = request.getfixturevalue("ls_env")
        return "ls", env, env.sim
    env = request.getfixturevalue("kiwoom_env")
    return "kiwoom", env, env.paper


def test_two_processes_share_one_token_and_reissue_it_once(venue: tuple[str, Any, Any]) -> None:
    kind, env, sim = venue
    creds = env.app()
    ctx = multiprocessing.get_context("spawn")
    go, again, out = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(kind, env.settings, creds, go, again, out)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        go.set()
        first = [out.get(timeout=60) for _ in procs]
        assert first[0] == first[1] and sim.issued_count == 1
        sim.expire_tokens()
        again.set()
        second = [out.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert second[0] == second[1] != first[0]
    assert sum(1 for r in sim.requests if r.path == "/oauth2/token") == 2 and sim.issued_count == 2


def test_burst_of_quotes_never_exceeds_the_limit(venue: tuple[str, Any, Any]) -> None:
    kind, env, sim = venue
    if kind == "ls":
        sim.tr_rates["t1102"] = LIMIT               # LS limits per TR
    else:
        sim.rate = LIMIT                            # Kiwoom per app key
    creds = env.app()
    brokers = [_make(kind, env.settings, creds, env.redis, LIMIT) for _ in range(2)]   # two workers, one key
    brokers[0].connect()

    def work(b: Broker) -> None:
        for _ in range(25):
            assert b.quote("005930").price == 70_000

    threads = [threading.Thread(target=work, args=(brokers[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if kind == "ls":   # the limit counts one TR
        arrivals = sorted(r.at for r in sim.requests if r.headers.get("tr_cd") == "t1102")
    else:              # the limit counts every call of the app key (a quote is ka10001 + ka10004)
        arrivals = sorted(r.at for r in sim.requests if r.path.startswith("/api/"))
    assert len(arrivals) == (100 if kind == "ls" else 200) and sim.rate_limited_count == 0
    assert busiest_second(arrivals) <= LIMIT
