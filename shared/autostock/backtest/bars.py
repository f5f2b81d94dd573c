"""Daily bars as the engine sees them: checked once at the door, then plain int64 arrays.

`Bars.from_frame` accepts a DataFrame with `open, high, low, close` (and optionally `volume`)
columns and a date index or `date` column. Problems that make a result meaningless raise a
`ValidationError` saying how to fix the data; oddities the engine can live with are
collected as warnings and returned with the result (backtesting.py's split, without
`warnings.warn`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autostock.errors import ValidationError

PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True, eq=False)
class Bars:
    """One symbol's daily bars; prices are int64 KRW, dates numpy datetime64[D]."""

    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str = ""
    market: str = "KOSPI"
    warnings: list[str] = field(default_factory=list)
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Read-only arrays make memoised indicators safe: nobody can change the bars under them.
        for name in ("dates", "open", "high", "low", "close", "volume"):
            getattr(self, name).flags.writeable = False

    def __len__(self) -> int:
        return len(self.close)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """An indicator computed once per Bars (a parameter sweep reuses SMA(20) 10 times)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def head(self, n: int) -> Bars:
        """The first n bars (what a live evaluation at bar n − 1 would see)."""
        return Bars(self.dates[:n], self.open[:n], self.high[:n], self.low[:n], self.close[:n],
                    self.volume[:n], self.symbol, self.market, list(self.warnings))

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(self.dates[start:stop], self.open[start:stop], self.high[start:stop],
                    self.low[start:stop], self.close[start:stop], self.volume[start:stop],
                    self.symbol, self.market, list(self.warnings))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"open": self.open, "high": self.high, "low": self.low,
                             "close": self.close, "volume": self.volume},
                            index=pd.DatetimeIndex(self.dates, name="date"))

    @classmethod
    def from_frame(cls, data: Any, *, symbol: str = "", market: str = "KOSPI") -> Bars:
        """Check `data` and convert it; raise ValidationError with a fix-it message."""
        if not isinstance(data, pd.DataFrame):
            raise ValidationError(f"bars must be a pandas DataFrame, was {type(data).__name__}",
                                  code="invalid_bars")
        if len(data) == 0:
            raise ValidationError("bars are empty; load at least two daily bars", code="invalid_bars")
        frame = data.rename(columns=str.lower)
        missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
        if missing:
            raise ValidationError(
                f"bars must have the columns open, high, low, close (and optionally volume); "
                f"missing: {', '.join(missing)}", code="invalid_bars", details={"missing": missing})
        warnings: list[str] = []
        dates = _dates(frame)
        order = None
        if len(dates) > 1 and not (np.diff(dates.astype(np.int64)) > 0).all():
            if pd.Index(dates).has_duplicates:
                raise ValidationError("bars have duplicate dates; keep one row per day "
                                      "(df[~df.index.duplicated()])", code="invalid_bars")
            order = np.argsort(dates, kind="stable")
            dates = dates[order]
            warnings.append("bars were not sorted by date; sorted them")
        cols = {c: _int_prices(frame, c) for c in PRICE_COLUMNS}
        volume = (_int_prices(frame, "volume", allow_zero=True) if "volume" in frame.columns
                  else np.zeros(len(frame), dtype=np.int64))
        if order is not None:
            cols = {c: v[order] for c, v in cols.items()}
            volume = volume[order]
        bad = (cols["high"] < np.maximum(cols["open"], cols["close"])) | (
            cols["low"] > np.minimum(cols["open"], cols["close"]))
        if bad.any():
            warnings.append(f"{int(bad.sum())} bar(s) have high/low outside open/close; "
                            "fills use the open, so they were kept")
        if len(dates) < 2:
            raise ValidationError("a backtest needs at least two bars (decisions fill on the next bar)",
                                  code="invalid_bars")
        return cls(dates, cols["open"], cols["high"], cols["low"], cols["close"], volume,
                   symbol, market.upper(), warnings)


def _dates(frame: pd.DataFrame) -> np.ndarray:
    if isinstance(frame.index, pd.DatetimeIndex):
        raw = frame.index
    elif "date" in frame.columns:
        try:
            raw = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
        except (ValueError, TypeError) as e:
            raise ValidationError("the date column has values that are not dates (use YYYY-MM-DD)",
                                  code="invalid_bars") from e
    else:
        raise ValidationError("bars need dates: a DatetimeIndex or a 'date' column "
                              "(df.set_index(pd.to_datetime(df['date'])))", code="invalid_bars")
    if raw.tz is not None:
        raw = raw.tz_convert("Asia/Seoul").tz_localize(None)
    if raw.hasnans:
        raise ValidationError("some dates are missing (NaT); drop those rows", code="invalid_bars")
    return raw.to_numpy().astype("datetime64[D]")


def _int_prices(frame: pd.DataFrame, column: str, *, allow_zero: bool = False) -> np.ndarray:
    values = frame[column].to_numpy()
    if values.dtype.kind not in "iuf":
        raise ValidationError(f"column {column} must be numeric, was {values.dtype}", code="invalid_bars")
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            raise ValidationError(f"column {column} has missing values (NaN); drop those rows with "
                                  "df.dropna() or fill them", code="invalid_bars")
        if not (values == np.round(values)).all():
            raise ValidationError(f"column {column} must hold whole KRW; prices with fractions "
                                  "(an index?) cannot be traded", code="invalid_bars")
    ints = values.astype(np.int64)
    low = ints.min()
    if low < 0 or (low == 0 and not allow_zero):
        raise ValidationError(f"column {column} must be above 0 (found {int(low)})", code="invalid_bars")
    return ints
