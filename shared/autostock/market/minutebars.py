"""Rolling trade ticks into 1-minute bars.

A bar covers [minute, minute + 60 s) in exchange time and closes when a tick of a later minute
arrives for its code, or when the feed's clock (the newest tick time of any code) has passed
its end by `grace` seconds, so a quiet code's bar still closes on time. A tick older than the
code's open bar (late, after its minute closed) is counted and left out: a published bar is
never changed afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from autostock.market.quotes import Tick
from autostock.market.storage import MinuteBar

GRACE_SECONDS = 2.0


def minute_of(at: dt.datetime) -> dt.datetime:
    return at.replace(second=0, microsecond=0)


@dataclass
class _Open:
    at: dt.datetime
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int

    def add(self, price: int, volume: int) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += volume
        self.trades += 1

    def bar(self, code: str) -> MinuteBar:
        return MinuteBar(code, self.at, self.open, self.high, self.low, self.close, self.volume, self.trades)


class BarRoller:
    """Open bars per code; `add` and `close_due` return the bars that just closed."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = dt.timedelta(seconds=grace)
        self._open: dict[str, _Open] = {}
        self._closed_until: dict[str, dt.datetime] = {}   # code → end of its last closed bar
        self.feed_time: dt.datetime | None = None
        self.late_ticks = 0

    def seed(self, code: str, bar: MinuteBar | None, closed_until: dt.datetime | None) -> None:
        """Resume after a restart: the code's stored bar of the current minute (rebuilt from
        stored ticks) and the end of the last bar already closed."""
        if bar is not None:
            self._open[code] = _Open(bar.at, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades)
        if closed_until is not None:
            self._closed_until[code] = closed_until

    def add(self, tick: Tick) -> list[MinuteBar]:
        closed: list[MinuteBar] = []
        minute = minute_of(tick.at)
        if self.feed_time is None or tick.at > self.feed_time:
            self.feed_time = tick.at
        current = self._open.get(tick.code)
        if current is not None and minute > current.at:
            closed.append(self._close(tick.code, current))
            current = None
        elif current is not None and minute < current.at:
            self.late_ticks += 1
            return closed
        if current is None:
            if minute < self._closed_until.get(tick.code, minute):
                self.late_ticks += 1
                return closed
            self._open[tick.code] = _Open(minute, tick.price, tick.price, tick.price, tick.price, tick.volume, 1)
        else:
            current.add(tick.price, tick.volume)
        return closed

    def close_due(self, now: dt.datetime | None = None) -> list[MinuteBar]:
        """Close every open bar whose minute ended `grace` before `now` (default: feed time)."""
        now = now or self.feed_time
        if now is None:
            return []
        due = [code for code, b in self._open.items() if b.at + dt.timedelta(minutes=1) + self.grace <= now]
        return [self._close(code, self._open[code]) for code in due]

    def close_all(self) -> list[MinuteBar]:
        return [self._close(code, b) for code, b in list(self._open.items())]

    def open_bars(self) -> list[MinuteBar]:
        return [b.bar(code) for code, b in self._open.items()]

    def _close(self, code: str, current: _Open) -> MinuteBar:
        del self._open[code]
        self._closed_until[code] = current.at + dt.timedelta(minutes=1)
        return current.bar(code)
