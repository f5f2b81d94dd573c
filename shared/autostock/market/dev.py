"""What `autostock dev` (`make run`) needs from market data: the demo history seeded at start-up
and the /ws/market stream server beside the gateway. The tick collector is not started here:
it needs the KIS simulator's URLs and `KIS_MARKET_KEYS` (see docs/market-data.md)."""

from __future__ import annotations

from autostock.config import Settings
from autostock.runtime import extras


def seed_market_data(settings: Settings) -> str:
    from autostock.market.commands import seed_demo
    from autostock.resources import Resources
    res = Resources.open(settings)
    try:
        report = seed_demo(res)
    finally:
        res.close()
    return (f"market data: {len(report['symbols'])} demo series, {report['rows_valid']} daily bars"
            " (KRX listing loaded)")


extras.register_seed(seed_market_data)
extras.register(extras.Extra("stream", ("{python}", "-m", "autostock.cli", "stream")))
