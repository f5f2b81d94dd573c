"""Alert conditions and the firing rule, as pure functions of bars and state.

An alert fires on a *crossing*: the condition is true on this bar and was not on the last
one. A repeating alert also waits out its cool-down, so a price hovering at the line fires
once, not once a minute. Indicator values come from `autostock.indicators`, the module the
backtest engine uses, so an alert and a strategy agree on what "RSI below 30" means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from autostock.errors import ValidationError

KINDS = ("price_above", "price_below", "pct_change", "volume_spike", "indicator")
INDICATORS = ("rsi_below", "rsi_above", "sma_cross_up", "sma_cross_down")
HISTORY_BARS = 200   # closed minutes kept per symbol for indicator and volume conditions


@dataclass(frozen=True)
class Bar:
    """A closed 1-minute bar as published on `bars.1m.<code>`."""

    code: str
    time: dt.datetime
    open: int
    high: int
    low: int
    close: int
    volume: int
    prev_close: int = 0

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Bar:
        try:
            at = data.get("t") or data.get("time") or data.get("ts")
            when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
            return cls(code=str(data["code"]), time=when, open=int(data["open"]), high=int(data["high"]),
                       low=int(data["low"]), close=int(data["close"]), volume=int(data.get("volume", 0)),
                       prev_close=int(data.get("prev_close") or 0))
        except (KeyError, TypeError, ValueError) as e:
            raise ValidationError(f"not a 1-minute bar message: {e}", code="bad_bar") from e


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params an alert of `kind` needs, checked and normalised (integers only)."""
    def positive_int(name: str, upper: int = 10**12) -> int:
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= upper:
            raise ValidationError(f"params.{name} must be a positive integer", details={"field": f"params.{name}"})
        return value

    if kind in ("price_above", "price_below"):
        return {"price": positive_int("price")}
    if kind == "pct_change":
        # Basis points from the previous close, signed: 300 = +3%, -500 = -5%.
        bp = params.get("bp")
        if isinstance(bp, bool) or not isinstance(bp, int) or bp == 0 or abs(bp) > 3000:
            raise ValidationError("params.bp must be a non-zero integer of basis points within ±3000",
                                  details={"field": "params.bp"})
        return {"bp": bp}
    if kind == "volume_spike":
        return {"multiple": positive_int("multiple", 1000), "lookback": positive_int("lookback", HISTORY_BARS - 1)}
    if kind == "indicator":
        name = params.get("name")
        if name not in INDICATORS:
            raise ValidationError(f"params.name must be one of {', '.join(INDICATORS)}",
                                  details={"field": "params.name"})
        if name.startswith("rsi"):
            return {"name": name, "period": positive_int("period", 100), "level": positive_int("level", 99)}
        fast, slow = positive_int("fast", 100), positive_int("slow", HISTORY_BARS - 1)
        if fast >= slow:
            raise ValidationError("params.fast must be below params.slow", details={"field": "params.fast"})
        return {"name": name, "fast": fast, "slow": slow}
    raise ValidationError(f"kind must be one of {', '.join(KINDS)}", details={"field": "kind"})


def condition(kind: str, params: dict[str, Any], bar: Bar, closes: list[int], volumes: list[int]) -> bool | None:
    """Is the condition true on `bar`? `closes`/`volumes` are earlier bars, oldest first,
    not including `bar`. None when there is not enough history to say."""
    if kind == "price_above":
        return bar.close >= params["price"]
    if kind == "price_below":
        return bar.close <= params["price"]
    if kind == "pct_change":
        if bar.prev_close <= 0:
            return None
        change_bp = (bar.close - bar.prev_close) * 10_000 // bar.prev_close if bar.close >= bar.prev_close \
            else -((bar.prev_close - bar.close) * 10_000 // bar.prev_close)
        return change_bp >= params["bp"] if params["bp"] > 0 else change_bp <= params["bp"]
    if kind == "volume_spike":
        window = volumes[-params["lookback"]:]
        if len(window) < params["lookback"]:
            return None
        # Integer comparison: volume > multiple × mean  ⇔  volume × n > multiple × sum.
        return bar.volume * len(window) >= params["multiple"] * sum(window) and sum(window) > 0
    if kind == "indicator":
        return _indicator(params, closes + [bar.close])
    raise ValidationError(f"unknown alert kind {kind!r}")


def _indicator(params: dict[str, Any], closes: list[int]) -> bool | None:
    import numpy as np

    from autostock import indicators

    series = np.asarray(closes, dtype=np.float64)
    name = params["name"]
    if name.startswith("rsi"):
        if len(series) <= params["period"]:
            return None
        value = float(indicators.rsi(series, params["period"])[-1])
        return value < params["level"] if name == "rsi_below" else value > params["level"]
    if len(series) < params["slow"]:
        return None
    fast = float(indicators.sma(series, params["fast"])[-1])
    slow = float(indicators.sma(series, params["slow"])[-1])
    return fast > slow if name == "sma_cross_up" else fast < slow


def in_active_hours(local_time: dt.time, start: dt.time | None, end: dt.time | None) -> bool:
    if start is None or end is None:
        return True
    if start <= end:
        return start <= local_time <= end
    return local_time >= start or local_time <= end   # a window across midnight


def should_fire(*, met: bool | None, last_state: bool | None, last_fired_at: dt.datetime | None,
                fired_count: int, repeat: bool, cooldown: dt.timedelta, now: dt.datetime) -> bool:
    """Fire on a false→true crossing (or true on the first bar seen); once for a one-shot alert;
    for a repeating one, only after the cool-down since the last firing."""
    if not met:
        return False
    if last_state is True:
        return False
    if not repeat and fired_count > 0:
        return False
    return not (last_fired_at is not None and now - last_fired_at < cooldown)
