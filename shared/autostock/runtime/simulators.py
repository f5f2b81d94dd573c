"""Broker simulators for `autostock dev`: with no platform KIS keys configured (a fresh
machine, the tests), dev runs `autostock sim kis` first and points every KIS setting of the
gateway, the collector and the workers at it, so quotes, paper fills and bars flow with no
internet. `BROKER_SIM=none` turns this off; `BROKER_SIM=kis` forces it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from autostock.brokers.sim.standalone import DEV_APP
from autostock.errors import ConfigError

START_TIMEOUT = 30
KEYS = ("KIS_REAL_URL", "KIS_PAPER_URL", "KIS_WS_URL", "KIS_PAPER_WS_URL")


# The simulators dev can wire the platform to (their settings are `KEYS`). `autostock sim`
# also serves LS and Kiwoom for their adapters' tests, but nothing in dev points at those.
CHOICES = ("kis",)


def wanted(env: Mapping[str, str]) -> str | None:
    """Which simulator dev starts: `BROKER_SIM` (kis, or none), else kis when no platform KIS
    market keys are configured. Any other value is a ConfigError, not a 30-second wait for a
    simulator that would never report KIS addresses."""
    choice = env.get("BROKER_SIM", "").strip().lower()
    if choice == "none":
        return None
    if choice and choice not in CHOICES:
        raise ConfigError(f"BROKER_SIM must be one of {', '.join((*CHOICES, 'none'))}, was {choice!r}")
    return choice or (None if env.get("KIS_MARKET_KEYS") else "kis")


def start(broker: str, start_child: Callable[[str, list[str]], subprocess.Popen], env: Mapping[str, str],
          speed: str = "2") -> dict[str, str]:
    """Start the simulator as a child; the settings that point the platform at it."""
    proc = start_child(f"sim-{broker}", [sys.executable, "-m", "autostock.cli", "sim", broker, "--speed", speed])
    found: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT
    assert proc.stdout is not None
    while not all(k in found for k in KEYS):
        line = proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            raise ConfigError(f"the {broker} simulator did not start (exit {proc.poll()})")
        key, sep, value = line.strip().partition("=")
        if sep and key in KEYS:
            found[key] = value
    # The platform's market-data app is the simulator's dev app (approval keys, REST quotes);
    # the simulator trades at any hour, so paper trading follows it unless told otherwise.
    return {**found, "KIS_MARKET_KEYS": f"{DEV_APP[0]}:{DEV_APP[1]}",
            "MARKET_ALWAYS_OPEN": env.get("MARKET_ALWAYS_OPEN", "1")}
