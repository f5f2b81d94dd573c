"""Bars for charts (daily, weekly, monthly, 1-minute) and indicators over them.

Weeks and months are resampled from daily bars (first open, max high, min low, last close,
summed volume), labelled by their first trading day. Indicators come from
`autostock.indicators`, the module the backtest engine uses, so a chart and a backtest agree.
Prices stay integers (KRW, or hundredths of a point for an index: `price_scale` says which).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
from psycopg_pool import ConnectionPool

from autostock import db, indicators
from autostock.errors import ValidationError
from autostock.market import symbols
from autostock.market.calendar import SEOUL

INTERVALS = ("1m", "1d", "1w", "1mo")
MAX_DAILY_BARS = 5000
MAX_MINUTE_BARS = 2000
_RULE = {"1w": "W-SUN", "1mo": "MS"}
_COLUMNS = ["open", "high", "low", "close", "volume"]


def parse_day(value: str | None, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as e:
        raise ValidationError(f"{name} must be a date (YYYY-MM-DD), was {value!r}", code="invalid_date") from e


def _range(interval: str, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    if interval not in INTERVALS:
        raise ValidationError(f"interval must be one of {', '.join(INTERVALS)}", code="invalid_interval")
    end = end or dt.datetime.now(SEOUL).date()
    start = start or (end - dt.timedelta(days=1 if interval == "1m" else 365))
    if start > end:
        raise ValidationError("start is after end", code="invalid_range")
    return start, end


def frame(pool: ConnectionPool, user_id: str, code: str, interval: str, start: dt.date | None = None,
          end: dt.date | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """(symbol, bars indexed by time) for `code` over [start, end] (Seoul dates, inclusive)."""
    start, end = _range(interval, start, end)
    if not code:
        raise ValidationError("symbol is required, e.g. symbol=005930", code="missing_symbol")
    symbol = symbols.get(pool, user_id, code)
    with db.tenant(pool, user_id) as conn:
        if interval == "1m":
            lo = dt.datetime.combine(start, dt.time(), SEOUL)
            hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), SEOUL)
            rows = conn.execute("SELECT ts AS t, open, high, low, close, volume FROM bars_1m"
                                " WHERE code = %s AND ts >= %s AND ts < %s ORDER BY ts DESC LIMIT %s",
                                (symbol["code"], lo, hi, MAX_MINUTE_BARS)).fetchall()
        else:
            rows = conn.execute("SELECT day AS t, open, high, low, close, volume FROM bars_1d"
                                " WHERE code = %s AND day BETWEEN %s AND %s ORDER BY day DESC LIMIT %s",
                                (symbol["code"], start, end, MAX_DAILY_BARS)).fetchall()
    df = pd.DataFrame(list(reversed(rows)), columns=["t", *_COLUMNS])
    df = df.set_index("t")
    if interval in _RULE and not df.empty:
        df = resample(df, interval)
    return symbol, df


def resample(daily: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Weekly or monthly bars from daily ones, labelled by their first trading day."""
    idx = pd.DatetimeIndex(pd.to_datetime(daily.index))
    d = daily.set_axis(idx)
    g = d.groupby(pd.Grouper(freq=_RULE[interval]))
    out = pd.DataFrame({"first": g.apply(lambda x: x.index.min()), "open": g["open"].first(),
                        "high": g["high"].max(), "low": g["low"].min(), "close": g["close"].last(),
                        "volume": g["volume"].sum()}).dropna(subset=["open"])
    out = out.set_index(pd.DatetimeIndex(out.pop("first")).date)
    return out.astype("int64")


def _time(t: Any) -> str:
    return t.astimezone(SEOUL).isoformat() if isinstance(t, dt.datetime) else t.isoformat()


def bars(pool: ConnectionPool, user_id: str, code: str, interval: str, start: dt.date | None = None,
         end: dt.date | None = None) -> dict[str, Any]:
    symbol, df = frame(pool, user_id, code, interval, start, end)
    return {"symbol": symbol["code"], "name": symbol["name_ko"], "interval": interval,
            "price_scale": symbol["price_scale"], "count": len(df),
            "bars": [{"t": _time(t), "open": int(r.open), "high": int(r.high), "low": int(r.low),
                      "close": int(r.close), "volume": int(r.volume)} for t, r in df.iterrows()]}


# name → (defaults, computation). Each returns {series name: values aligned with the bars}.
_INDICATORS = {
    "sma": ((20,), lambda df, n: {"sma": indicators.sma(df.close, n)}),
    "ema": ((20,), lambda df, n: {"ema": indicators.ema(df.close, n)}),
    "rsi": ((14,), lambda df, n: {"rsi": indicators.rsi(df.close, n)}),
    "macd": ((12, 26, 9), lambda df, f, s, g: dict(zip(("macd", "signal", "histogram"),
                                                       indicators.macd(df.close, f, s, g), strict=True))),
    "bollinger": ((20, 2), lambda df, n, k: dict(zip(("lower", "middle", "upper"),
                                                     indicators.bollinger(df.close, n, k), strict=True))),
    "atr": ((14,), lambda df, n: {"atr": indicators.atr(df.high, df.low, df.close, n)}),
}
MAX_INDICATORS = 8


def parse_specs(text: str | None) -> list[tuple[str, tuple[int, ...]]]:
    """`sma:20,rsi:14,macd:12:26:9,bollinger:20:2` → [(name, params)]; defaults fill the rest."""
    specs = []
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        name, *raw = part.lower().split(":")
        if name not in _INDICATORS:
            raise ValidationError(f"unknown indicator {name!r}; known: {', '.join(_INDICATORS)}",
                                  code="unknown_indicator")
        defaults = _INDICATORS[name][0]
        if len(raw) > len(defaults):
            raise ValidationError(f"{name} takes at most {len(defaults)} parameters", code="invalid_indicator")
        try:
            params = tuple(int(v) for v in raw) + defaults[len(raw):]
        except ValueError as e:
            raise ValidationError(f"{part}: parameters must be integers", code="invalid_indicator") from e
        if any(p < 1 or p > 500 for p in params):
            raise ValidationError(f"{part}: parameters must be between 1 and 500", code="invalid_indicator")
        specs.append((name, params))
    if not specs or len(specs) > MAX_INDICATORS:
        raise ValidationError(f"ask for 1 to {MAX_INDICATORS} indicators, e.g. sma:20,rsi:14",
                              code="invalid_indicator")
    return specs


def _clean(values: Any, scale: int) -> list[float | None]:
    # Indicator values are not money: floats, in the symbol's price unit (÷ price_scale).
    return [None if v is None or math.isnan(v) else round(float(v) / scale, 4) for v in values]


def compute(pool: ConnectionPool, user_id: str, code: str, specs_text: str | None, interval: str = "1d",
            start: dt.date | None = None, end: dt.date | None = None) -> dict[str, Any]:
    specs = parse_specs(specs_text)
    symbol, df = frame(pool, user_id, code, interval, start, end)
    df = df.astype("float64")
    out: dict[str, Any] = {}
    for name, params in specs:
        series = _INDICATORS[name][1](df, *params)
        scale = 1 if name == "rsi" else symbol["price_scale"]
        out[name + "".join(f":{p}" for p in params)] = {k: _clean(v, scale) for k, v in series.items()}
    return {"symbol": symbol["code"], "interval": interval, "times": [_time(t) for t in df.index],
            "indicators": out}
