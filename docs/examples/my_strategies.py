"""An example user-defined strategy (docs/backtest.md): hold while the close is above its
`n`-bar SMA *and* the RSI is not overbought. Copy this module into your own package."""

import numpy as np

from autostock import indicators as ind
from autostock.backtest.strategies import Param, Strategy, register


@register
class TrendWithRsiFilter(Strategy):
    name = "trend_rsi_filter"
    description = "Hold while close > SMA(n) and RSI(14) < ceiling."
    params = (Param("n", "int", 50, 5, 250, 5, help="trend SMA period"),
              Param("ceiling", "float", 75.0, 50.0, 95.0, 5.0, help="RSI level above which we stay out"))

    def targets(self, bars):
        # Vectorised over every bar; bar t uses only bars 0..t (indicators guarantee it).
        trend = ind.sma(bars.close, self.values["n"])
        strength = ind.rsi(bars.close, 14)
        with np.errstate(invalid="ignore"):
            return ((bars.close > trend) & (strength < self.values["ceiling"])).astype(float)
