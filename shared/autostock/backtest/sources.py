"""Where backtest bars come from: the market tables (`bars_1d`), or the shipped KRX files.

`bars_1d` and `symbols` belong to the market-data package (migration 0400). Until a database
holds them, `FileBarSource` reads the KRX history shipped beside the repository
(`../shared/data/krx`). `source_for(pool)` picks the database when its table has the symbol
and falls back to the files, so the API works in both states.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from autostock import db
from autostock.backtest.bars import Bars
from autostock.errors import NotFound, ValidationError

# shared/autostock/backtest/sources.py → the worktree → its sibling `shared/data/krx`.
KRX_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "krx"
INDEXES = ("KOSPI", "KOSDAQ")


def check_symbol(code: Any) -> str:
    if not isinstance(code, str) or not code.isalnum() or not 1 <= len(code) <= 12:
        raise ValidationError(f"symbol must be a KRX code like '005930', was {code!r}", code="invalid_symbol")
    return code.upper()


def _window(frame: pd.DataFrame, start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    if start:
        frame = frame.loc[pd.Timestamp(start):]
    if end:
        frame = frame.loc[:pd.Timestamp(end)]
    return frame


class BarSource(Protocol):
    def daily(self, symbol: str, start: dt.date | None = None, end: dt.date | None = None) -> Bars: ...

    def index(self, name: str) -> pd.Series | None: ...


class FileBarSource:
    """The shipped KRX CSV files (`daily/<code>.csv`, `listing.csv` for each code's market)."""

    def __init__(self, root: Path | str = KRX_DIR) -> None:
        self.root = Path(root)

    @functools.cached_property
    def markets(self) -> dict[str, str]:
        path = self.root / "listing.csv"
        if not path.is_file():
            return {}
        with path.open(encoding="utf-8") as f:
            return {row["code"]: row["market"] for row in csv.DictReader(f)}

    def has(self, symbol: str) -> bool:
        return (self.root / "daily" / f"{symbol}.csv").is_file()

    def daily(self, symbol: str, start: dt.date | None = None, end: dt.date | None = None) -> Bars:
        symbol = check_symbol(symbol)
        if symbol in INDEXES or not self.has(symbol):
            raise NotFound(f"no daily bars for {symbol}", code="unknown_symbol")
        frame = _window(pd.read_csv(self.root / "daily" / f"{symbol}.csv", index_col="date", parse_dates=True),
                        start, end)
        return Bars.from_frame(frame, symbol=symbol, market=self.markets.get(symbol, "KOSPI"))

    def index(self, name: str) -> pd.Series | None:
        path = self.root / "daily" / f"{name}.csv"
        if name not in INDEXES or not path.is_file():
            return None
        return pd.read_csv(path, index_col="date", parse_dates=True)["close"]


class DatabaseBarSource:
    """`bars_1d` joined with `symbols` (index prices are stored × price_scale)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def available(self) -> bool:
        with db.service(self.pool) as conn:
            row = conn.execute("SELECT to_regclass('bars_1d') IS NOT NULL AS ok").fetchone()
        return bool(row["ok"])

    def _rows(self, symbol: str, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
        with db.service(self.pool) as conn:
            return conn.execute(
                "SELECT day, open, high, low, close, volume FROM bars_1d WHERE code = %s"
                " AND day >= coalesce(%s::date, '-infinity'::date) AND day <= coalesce(%s::date, 'infinity'::date)"
                " ORDER BY day", (symbol, start, end)).fetchall()

    def _market(self, symbol: str) -> tuple[str, int]:
        with db.service(self.pool) as conn:
            row = conn.execute("SELECT market, price_scale FROM symbols WHERE code = %s", (symbol,)).fetchone()
        return (row["market"], row["price_scale"]) if row else ("KOSPI", 1)

    def daily(self, symbol: str, start: dt.date | None = None, end: dt.date | None = None) -> Bars:
        symbol = check_symbol(symbol)
        rows = self._rows(symbol, start, end)
        if not rows:
            raise NotFound(f"no daily bars for {symbol}", code="unknown_symbol")
        market, _ = self._market(symbol)
        frame = pd.DataFrame(rows).set_index("day")
        frame.index = pd.DatetimeIndex(frame.index)
        return Bars.from_frame(frame, symbol=symbol, market=market)

    def index(self, name: str) -> pd.Series | None:
        rows = self._rows(name, None, None)
        if not rows:
            return None
        _, scale = self._market(name)
        s = pd.Series([r["close"] / scale for r in rows], index=pd.DatetimeIndex([r["day"] for r in rows]))
        return s.astype(np.float64)


class LayeredBarSource:
    """The database first, the files where the database has nothing (yet)."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def daily(self, symbol: str, start: dt.date | None = None, end: dt.date | None = None) -> Bars:
        last: NotFound | None = None
        for source in self.sources:
            try:
                return source.daily(symbol, start, end)
            except NotFound as e:
                last = e
        raise last or NotFound(f"no daily bars for {symbol}", code="unknown_symbol")

    def index(self, name: str) -> pd.Series | None:
        for source in self.sources:
            found = source.index(name)
            if found is not None:
                return found
        return None


def source_for(pool: Any, files: Path | str = KRX_DIR) -> Any:
    """The bar source for this deployment: bars_1d when the table exists, then the files."""
    database = DatabaseBarSource(pool)
    if database.available():
        return LayeredBarSource(database, FileBarSource(files))
    return FileBarSource(files)
