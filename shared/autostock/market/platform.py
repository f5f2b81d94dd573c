"""The platform's own KIS connection for market data (not any user's account).

Configured by `KIS_MARKET_KEYS` ("appkey:appsecret,..."): the first app answers REST quotes and
daily charts; every app gives one realtime session (approval key) to the tick collector.
Tests and `make run` point `KIS_REAL_URL`/`KIS_WS_URL` at `autostock.brokers.sim`.
"""

from __future__ import annotations

import threading

import redis

from autostock.brokers.base import Broker, BrokerCredentials
from autostock.config import Settings
from autostock.errors import ServiceUnavailable

# KIS wants an account number even for quote-only apps; market data calls never send it.
MARKET_ACCOUNT = "00000000-01"

_lock = threading.Lock()
_installed: Broker | None = None


def market_apps(settings: Settings) -> list[tuple[str, str]]:
    pairs = []
    for part in settings.kis_market_keys.reveal().split(","):
        key, sep, secret = part.strip().partition(":")
        if key and sep and secret:
            pairs.append((key, secret))
    return pairs


def _credentials(settings: Settings, index: int = 0) -> BrokerCredentials:
    apps = market_apps(settings)
    if len(apps) <= index:
        # A request-time answer (503, which quote-snapshot turns into "missing"), not a crash.
        raise ServiceUnavailable("no market-data broker is configured (KIS_MARKET_KEYS holds appkey:appsecret)",
                                 code="market_broker_not_configured")
    key, secret = apps[index]
    return BrokerCredentials(key, secret, MARKET_ACCOUNT, paper=False)


def platform_broker(settings: Settings, client: redis.Redis | None = None, index: int = 0) -> Broker:
    """A KIS broker on the platform's market-data app (quotes, daily charts)."""
    from autostock.brokers.kis.broker import KisBroker
    client = client or redis.Redis.from_url(settings.redis_url.reveal(), decode_responses=True)
    return KisBroker(settings, _credentials(settings, index), client)


def approval_keys(settings: Settings, client: redis.Redis) -> list[str]:
    """One realtime approval key per configured app (one session each)."""
    keys = []
    for i in range(len(market_apps(settings))):
        broker = platform_broker(settings, client, i)
        try:
            keys.append(broker.approval_key())  # type: ignore[attr-defined]
        finally:
            broker.close()
    return keys


def install(broker: Broker | None) -> None:
    """Use `broker` for quote misses in this process (tests, the local runtime)."""
    global _installed
    with _lock:
        _installed = broker


def quote_broker(settings: Settings, client: redis.Redis) -> Broker:
    """This process's market-data broker, built on first use."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = platform_broker(settings, client)
        return _installed
