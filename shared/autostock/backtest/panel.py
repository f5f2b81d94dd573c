"""A universe of symbols on one date axis (the portfolio engine's input).

Symbols listed later or halted on some days have no bar there: `tradable` is False, the open
is 0 and the close carries the last known close forward so holdings keep a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autostock.backtest.bars import Bars
from autostock.errors import ValidationError


@dataclass(frozen=True, eq=False)
class Panel:
    dates: np.ndarray            # datetime64[D], (T,)
    symbols: tuple[str, ...]     # (N,)
    open: np.ndarray             # int64 (T, N); 0 where there is no bar
    close: np.ndarray            # int64 (T, N); last close carried forward, 0 before listing
    tradable: np.ndarray         # bool (T, N)
    markets: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.dates)

    def head(self, n: int) -> Panel:
        return Panel(self.dates[:n], self.symbols, self.open[:n], self.close[:n], self.tradable[:n],
                     self.markets, list(self.warnings))

    def slice(self, start: int, stop: int) -> Panel:
        return Panel(self.dates[start:stop], self.symbols, self.open[start:stop], self.close[start:stop],
                     self.tradable[start:stop], self.markets, list(self.warnings))

    @classmethod
    def from_frames(cls, frames: Mapping[str, Any], markets: Mapping[str, str] | None = None) -> Panel:
        """Check each symbol's bars (as Bars.from_frame does) and align them on the union of dates."""
        if not frames:
            raise ValidationError("the universe is empty; give at least one symbol", code="invalid_bars")
        bars = {s: f if isinstance(f, Bars) else Bars.from_frame(f, symbol=s, market=(markets or {}).get(s, "KOSPI"))
                for s, f in frames.items()}
        return cls.from_bars(list(bars.values()))

    @classmethod
    def from_bars(cls, bars: list[Bars]) -> Panel:
        all_dates = np.unique(np.concatenate([b.dates for b in bars]))
        t, n = len(all_dates), len(bars)
        opens = np.zeros((t, n), dtype=np.int64)
        closes = np.zeros((t, n), dtype=np.int64)
        tradable = np.zeros((t, n), dtype=bool)
        warnings: list[str] = []
        for j, b in enumerate(bars):
            rows = np.searchsorted(all_dates, b.dates)
            opens[rows, j] = b.open
            closes[rows, j] = b.close
            tradable[rows, j] = True
            warnings.extend(f"{b.symbol}: {w}" for w in b.warnings)
        # Carry closes forward over missing days (halts) so a holding keeps its last value.
        idx = np.where(tradable, np.arange(t)[:, None], 0)
        np.maximum.accumulate(idx, axis=0, out=idx)
        closes = np.take_along_axis(closes, idx, axis=0)
        return cls(all_dates, tuple(b.symbol for b in bars), opens, closes, tradable,
                   tuple(b.market for b in bars), warnings)

    def close_frame(self) -> np.ndarray:
        """Closes as float with NaN before a symbol's first bar (for indicators)."""
        out = self.close.astype(np.float64)
        out[out == 0] = np.nan
        return out
