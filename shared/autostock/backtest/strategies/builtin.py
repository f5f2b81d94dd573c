"""Built-in single-symbol strategies. Each returns 1 (fully invested) or 0 (cash) per bar."""

from __future__ import annotations

from typing import Any

import numpy as np

from autostock import indicators as ind
from autostock.backtest.bars import Bars
from autostock.backtest.strategies.base import Param, Strategy, register
from autostock.errors import ValidationError


def hold_between(enter: np.ndarray, leave: np.ndarray) -> np.ndarray:
    """1 from a bar where `enter` holds until a bar where `leave` holds (leave wins ties).

    A forward fill of the last signal, so bar t depends only on signals up to t.
    """
    n = len(enter)
    state = np.full(n, -1, dtype=np.int8)
    state[enter] = 1
    state[leave] = 0
    marked = np.where(state >= 0, np.arange(n), 0)
    np.maximum.accumulate(marked, out=marked)
    filled = state[marked].astype(np.float64)
    filled[filled < 0] = 0.0
    return filled


def _above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a > b).astype(np.float64)  # NaN (warm-up) compares False: flat


def _fast_below_slow(values: dict[str, Any]) -> None:
    if values["fast"] >= values["slow"]:
        raise ValidationError(f"fast ({values['fast']}) must be shorter than slow ({values['slow']})",
                              code="invalid_parameter", details={"parameter": "fast"})


@register
class BuyAndHold(Strategy):
    name = "buy_and_hold"
    description = "Buy at the first open and hold to the end (the benchmark)."

    def targets(self, bars: Bars) -> np.ndarray:
        return np.ones(len(bars))


@register
class SmaCross(Strategy):
    name = "sma_cross"
    description = "Hold while the fast simple moving average is above the slow one."
    params = (Param("fast", "int", 10, 2, 250, 1, help="fast SMA period (bars)"),
              Param("slow", "int", 30, 3, 500, 1, help="slow SMA period (bars)"))
    check = classmethod(lambda cls, v: _fast_below_slow(v))

    def targets(self, bars: Bars) -> np.ndarray:
        fast, slow = self.values["fast"], self.values["slow"]
        return _above(bars.memo(("sma", fast), lambda: ind.sma(bars.close, fast)),
                      bars.memo(("sma", slow), lambda: ind.sma(bars.close, slow)))


@register
class EmaCross(Strategy):
    name = "ema_cross"
    description = "Hold while the fast exponential moving average is above the slow one."
    params = (Param("fast", "int", 12, 2, 250, 1, help="fast EMA period (bars)"),
              Param("slow", "int", 26, 3, 500, 1, help="slow EMA period (bars)"))
    check = classmethod(lambda cls, v: _fast_below_slow(v))

    def targets(self, bars: Bars) -> np.ndarray:
        fast, slow = self.values["fast"], self.values["slow"]
        return _above(bars.memo(("ema", fast), lambda: ind.ema(bars.close, fast)),
                      bars.memo(("ema", slow), lambda: ind.ema(bars.close, slow)))


@register
class RsiReversion(Strategy):
    name = "rsi_reversion"
    description = "Buy when RSI falls below `lower`; sell when it rises above `upper`."
    params = (Param("period", "int", 14, 2, 100, 1, help="RSI period (bars)"),
              Param("lower", "float", 30.0, 1.0, 50.0, 5.0, help="oversold level: buy below"),
              Param("upper", "float", 70.0, 50.0, 99.0, 5.0, help="overbought level: sell above"))

    def targets(self, bars: Bars) -> np.ndarray:
        r = ind.rsi(bars.close, self.values["period"])
        with np.errstate(invalid="ignore"):
            return hold_between(r < self.values["lower"], r > self.values["upper"])


@register
class BollingerReversion(Strategy):
    name = "bollinger"
    description = "Buy on a close below the lower band; sell on a close above the middle band."
    params = (Param("period", "int", 20, 2, 200, 1, help="band period (bars)"),
              Param("k", "float", 2.0, 0.5, 4.0, 0.5, help="band width in standard deviations"))

    def targets(self, bars: Bars) -> np.ndarray:
        lower, middle, _ = ind.bollinger(bars.close, self.values["period"], self.values["k"])
        with np.errstate(invalid="ignore"):
            return hold_between(bars.close < lower, bars.close > middle)


@register
class MacdCross(Strategy):
    name = "macd"
    description = "Hold while the MACD line is above its signal line."
    params = (Param("fast", "int", 12, 2, 100, 1), Param("slow", "int", 26, 3, 200, 1),
              Param("signal", "int", 9, 2, 50, 1))
    check = classmethod(lambda cls, v: _fast_below_slow(v))

    def warmup(self) -> int:
        return self.values["slow"] + self.values["signal"]

    def targets(self, bars: Bars) -> np.ndarray:
        line, signal, _ = ind.macd(bars.close, self.values["fast"], self.values["slow"], self.values["signal"])
        return _above(line, signal)


@register
class DonchianBreakout(Strategy):
    name = "donchian"
    description = ("Buy when the close breaks above the highest high of the previous `entry` bars; "
                   "sell when it breaks below the lowest low of the previous `exit` bars.")
    params = (Param("entry", "int", 20, 2, 250, 1), Param("exit", "int", 10, 2, 250, 1))

    def targets(self, bars: Bars) -> np.ndarray:
        _, _, upper = ind.donchian(bars.high, bars.low, self.values["entry"])
        lower, _, _ = ind.donchian(bars.high, bars.low, self.values["exit"])
        # The channel of the bars *before* t: today's own high cannot be broken by today's close.
        prev_upper = np.concatenate(([np.nan], upper[:-1]))
        prev_lower = np.concatenate(([np.nan], lower[:-1]))
        with np.errstate(invalid="ignore"):
            return hold_between(bars.close > prev_upper, bars.close < prev_lower)
