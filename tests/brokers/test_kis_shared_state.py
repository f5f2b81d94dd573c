"""State the KIS adapter shares through Redis: one token for every process, pacing per app key."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
import redis as redis_lib

from autostock.brokers.base import BrokerCredentials
from autostock.brokers.kis.broker import KisBroker
from autostock.brokers.pacing import Pacer
from autostock.brokers.token_cache import IssuedToken, TokenCache
from autostock.config import Settings
from autostock.errors import RateLimited
from tests.brokers.conftest import KisEnv


def _child(settings: Settings, creds: BrokerCredentials, go: Any, again: Any, out: Any) -> None:
    redis = redis_lib.Redis.from_url(settings.redis_url.reveal(), decode_responses=True)
    broker = KisBroker(settings, creds, redis, token_issue_interval=0)
    go.wait(60)
    out.put(("first", broker.client.token()))
    again.wait(60)
    broker.quote("005930")                        # answered EGW00123 once the token expired
    out.put(("second", broker.client.token()))


def test_two_processes_share_one_token_and_reissue_it_once(kis_env: KisEnv) -> None:
    creds = kis_env.app()
    ctx = multiprocessing.get_context("spawn")
    go, again, out = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(kis_env.settings, creds, go, again, out)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        go.set()
        first = [out.get(timeout=60)[1] for _ in procs]
        assert first[0] == first[1] and kis_env.real.issued_count == 1
        kis_env.real.expire_tokens()
        kis_env.exchange.clock.advance(61)        # past KIS's one-issue-a-minute rule
        again.set()
        second = [out.get(timeout=60)[1] for _ in procs]
    finally:
        for p in procs:
            p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert second[0] == second[1] != first[0]
    token_calls = [r for r in kis_env.real.requests if r.path == "/oauth2/tokenP"]
    assert len(token_calls) == 2 and kis_env.real.issued_count == 2
    expired = [r for r in kis_env.real.requests if r.answer == 500 and r.path.endswith("inquire-price")]
    assert 1 <= len(expired) <= 2


def test_token_issue_within_a_minute_is_refused_then_reused(kis_env: KisEnv) -> None:
    creds = kis_env.app()
    broker = kis_env.broker(creds)
    token = broker.client.token()
    broker.client.tokens.invalidate(token)        # as if the cache were lost
    with pytest.raises(RateLimited) as e:
        broker.client.token()
    assert e.value.details["msg_cd"] == "EGW00133"
    kis_env.exchange.clock.advance(61)
    assert broker.client.token() == token         # same token within 6 hours
    assert kis_env.real.issued_count == 1


def test_token_cache_waits_out_the_issue_interval(resources: Any, settings: Settings) -> None:
    now = [1_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    cache = TokenCache(resources.redis, settings.redis_key("test", "tokcache", now[0]), min_issue_interval=60,
                       refresh_before=10, clock=lambda: now[0], sleep=sleep)
    issued = iter(["t1", "t2"])
    assert cache.get(lambda: IssuedToken(next(issued), now[0] + 30)) == "t1"
    now[0] += 25                                  # inside refresh_before of expiry: renew
    assert cache.get(lambda: IssuedToken(next(issued), now[0] + 3600)) == "t2"
    assert slept and abs(slept[0] - 35) < 1e-6


@pytest.mark.slow
def test_burst_of_quotes_never_exceeds_the_per_second_limit(kis_env: KisEnv) -> None:
    creds = kis_env.app()
    brokers = [kis_env.broker(creds), kis_env.broker(creds)]      # two workers, one app key
    brokers[0].connect()

    def work(b: KisBroker) -> None:
        for _ in range(25):
            assert b.quote("005930").price == 70_000

    threads = [threading.Thread(target=work, args=(brokers[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    arrivals = sorted(r.at for r in kis_env.real.requests if "/quotations/" in r.path)
    assert len(arrivals) == 200 and kis_env.real.rate_limited_count == 0   # a quote is two reads
    busiest = max(sum(1 for t in arrivals[i:] if t - start < 1.0) for i, start in enumerate(arrivals))
    assert busiest <= 20


def test_local_pacer_spaces_calls() -> None:
    waits: list[float] = []
    pacer = Pacer(10, margin=0, sleep=waits.append)
    for _ in range(3):
        pacer.wait()
    assert len(waits) == 2 and all(w > 0.05 for w in waits)
