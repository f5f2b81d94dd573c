"""Time and prices for the simulators: a controllable clock, replayed or synthetic price feeds,
and fault plans that protocol servers consult. Shared by every broker simulator.

Feeds read the KRX files described in `../shared/data/krx/README.md` from a path argument:
minute files (`datetime,open,high,low,close,volume`) become four prints per bar (open, high,
low, close for a rising bar; open, low, high, close for a falling one); daily files give bars.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from autostock.market import rules

SEOUL = ZoneInfo("Asia/Seoul")


class Clock:
    """Wall-clock time in Seoul; `ManualClock` is the controllable one tests use."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(SEOUL)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock that only moves when told; `monotonic` moves with it (rate buckets, token ages)."""

    def __init__(self, start: dt.datetime) -> None:
        self._lock = threading.Lock()
        self._now = start if start.tzinfo else start.replace(tzinfo=SEOUL)
        self._mono = 0.0

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            self._mono += seconds

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            when = when if when.tzinfo else when.replace(tzinfo=SEOUL)
            self._mono += max(0.0, (when - self._now).total_seconds())
            self._now = when


@dataclass(frozen=True)
class Print:
    """One trade on the tape: the feed's unit."""

    at: dt.datetime
    price: int
    quantity: int


@dataclass(frozen=True)
class Bar:
    date: dt.date
    open: int
    high: int
    low: int
    close: int
    volume: int


def read_minute_prints(path: str | Path) -> list[Print]:
    """Prints from one KRX minute file; a bar's volume is spread over its four prints."""
    out: list[Print] = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            at = dt.datetime.fromisoformat(row["datetime"])
            o, h, lo, c = (int(row[k]) for k in ("open", "high", "low", "close"))
            vol = int(row["volume"])
            path_prices = (o, h, lo, c) if c >= o else (o, lo, h, c)
            share = max(1, vol // 4)
            for i, p in enumerate(path_prices):
                out.append(Print(at + dt.timedelta(seconds=15 * i), p, share))
    return out


def read_daily_bars(path: str | Path) -> list[Bar]:
    """Bars from one KRX daily file, ascending by date."""
    with open(path, newline="") as f:
        return [Bar(dt.date.fromisoformat(r["date"]), int(r["open"]), int(r["high"]), int(r["low"]),
                    int(r["close"]), int(r["volume"])) for r in csv.DictReader(f)]


def synthetic_prints(start_price: int, count: int, *, seed: int,
                     start: dt.datetime | None = None, market: str = "KOSPI") -> list[Print]:
    """A seeded random walk on the tick grid, one print per second."""
    rng = random.Random(seed)
    at = start or dt.datetime(2026, 1, 5, 9, 0, tzinfo=SEOUL)
    price = start_price
    out = []
    for i in range(count):
        price = max(rules.tick_size(price, market), price + rng.choice((-1, 0, 0, 1)) * rules.tick_size(price, market))
        out.append(Print(at + dt.timedelta(seconds=i), price, rng.randint(1, 50)))
    return out


def synthetic_daily_bars(start_price: int, end: dt.date, days: int, *, seed: int,
                         market: str = "KOSPI") -> list[Bar]:
    """Seeded weekday bars ending at `end`, prices on the tick grid."""
    rng = random.Random(seed)
    dates: list[dt.date] = []
    d = end
    while len(dates) < days:
        if d.weekday() < 5:
            dates.append(d)
        d -= dt.timedelta(days=1)
    bars, close = [], start_price
    for day in reversed(dates):
        tick = rules.tick_size(close, market)
        o = close
        c = max(tick, o + rng.randint(-5, 5) * tick)
        h = max(o, c) + rng.randint(0, 3) * tick
        lo = max(tick, min(o, c) - rng.randint(0, 3) * tick)
        bars.append(Bar(day, o, h, lo, c, rng.randint(100_000, 5_000_000)))
        close = c
    return bars


class PriceFeed:
    """Prints per symbol, consumed in order by `Exchange.replay`."""

    def __init__(self) -> None:
        self._prints: dict[str, list[Print]] = {}
        self._pos: dict[str, int] = {}

    def load(self, symbol: str, prints: list[Print]) -> None:
        self._prints[symbol] = list(prints)
        self._pos[symbol] = 0

    def load_minute_file(self, symbol: str, path: str | Path) -> None:
        self.load(symbol, read_minute_prints(path))

    def next(self, symbol: str) -> Print | None:
        i = self._pos.get(symbol, 0)
        prints = self._prints.get(symbol, [])
        if i >= len(prints):
            return None
        self._pos[symbol] = i + 1
        return prints[i]

    def remaining(self, symbol: str) -> Iterator[Print]:
        while (p := self.next(symbol)) is not None:
            yield p


@dataclass
class Faults:
    """Misbehaviour a protocol server applies, armed by tests or the CLI.

    Kinds the servers understand: `drop_after_order` (accept the order, or at KIS its modify or
    cancel, then close the socket without answering), `drop_before` (close without acting),
    `rate_limit` (answer the broker's over-limit error), `reject` (answer a business rejection; data: code, message).
    `latency` delays every answer by that many seconds.
    """

    latency: float = 0.0
    _armed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, kind: str, count: int = 1, **data: Any) -> None:
        with self._lock:
            self._armed.setdefault(kind, []).extend(dict(data) for _ in range(count))

    def take(self, kind: str) -> dict[str, Any] | None:
        """Consume one armed fault of `kind`; None when none is armed."""
        with self._lock:
            queue = self._armed.get(kind)
            return queue.pop(0) if queue else None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.latency = 0.0

    def delay(self) -> None:
        if self.latency > 0:
            time.sleep(self.latency)  # the fault being simulated is a slow broker
