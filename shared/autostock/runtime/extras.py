"""Other long-lived processes `autostock dev` runs beside the gateway, and start-up seeds.

To plug in (tick collector, paper matcher, stream server, a backtest worker, ...), add an
entry under your area's anchor below, or call `register`/`register_seed` from a module that
`autostock dev` imports (list it in `PLUGIN_MODULES`). An `Extra`'s argv may use
`{python}` (this interpreter) and `{gateway}` (the gateway URL); it runs with the dev
environment (settings resolved, services up, migrations applied) in its own process group,
and gets SIGTERM on Ctrl-C. A seed runs once after migrations with the `Settings` and
returns a line to print (e.g. the demo login) or None.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from autostock.config import Settings


@dataclass(frozen=True)
class Extra:
    name: str
    argv: tuple[str, ...]

    def command(self, python: str, gateway: str) -> list[str]:
        return [a.replace("{python}", python).replace("{gateway}", gateway) for a in self.argv]


Seed = Callable[[Settings], "str | None"]

EXTRAS: list[Extra] = [
    # The async-call worker (see runtime.calls); other rq queues may add their own worker.
    Extra("worker", ("{python}", "-m", "autostock.runtime", "worker")),
    # ---- market data: tick-collector, stream ----
    Extra("collector", ("{python}", "-m", "autostock.cli", "collector")),
    Extra("stream", ("{python}", "-m", "autostock.cli", "stream")),

    # ---- brokers: paper-matcher ----
    Extra("paper-matcher", ("{python}", "-m", "autostock.cli", "paper-matcher")),

    # ---- backtest: worker ----
    Extra("backtest-worker", ("{python}", "-m", "autostock.cli", "worker")),

]

SEEDS: list[Seed] = []

# Modules imported by `autostock dev` before it starts anything, so they can register.
PLUGIN_MODULES: list[str] = [
    # ---- identity: demo user seed ----
    "autostock.runtime.demo",  # demo market data (seed-demo) and, with APP_ENV=dev, the demo login

    # ---- others ----
    "autostock.market.dev",   # market data: demo history seed, /ws/market stream

]


def register(extra: Extra) -> None:
    if all(e.name != extra.name for e in EXTRAS):
        EXTRAS.append(extra)


def register_seed(seed: Seed) -> None:
    if seed not in SEEDS:
        SEEDS.append(seed)


def load_plugins() -> None:
    for name in PLUGIN_MODULES:
        importlib.import_module(name)
