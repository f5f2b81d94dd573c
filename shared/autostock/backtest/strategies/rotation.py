"""Built-in universe strategies: momentum rotation. Targets are (bars × symbols) weights.

Rebalancing happens on the first session of each month (or every `every` bars): the decision
is taken at that bar's close, so it never needs to know that tomorrow starts a new month.
"""

from __future__ import annotations

import numpy as np

from autostock.backtest.panel import Panel
from autostock.backtest.strategies.base import Param, Strategy, register


def rebalance_bars(dates: np.ndarray, every: int) -> np.ndarray:
    """Boolean mask of decision bars: month starts when every == 0, else every `every` bars."""
    n = len(dates)
    if every > 0:
        mask = np.zeros(n, dtype=bool)
        mask[::every] = True
        return mask
    months = dates.astype("datetime64[M]")
    return np.concatenate(([True], months[1:] != months[:-1])) if n else np.zeros(0, dtype=bool)


def lookback_returns(panel: Panel, lookback: int) -> np.ndarray:
    """close[t] / close[t − lookback] − 1 per symbol; NaN until both exist."""
    close = panel.close_frame()
    out = np.full(close.shape, np.nan)
    if lookback < len(close):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[lookback:] = close[lookback:] / close[:-lookback] - 1.0
    return out


def hold_from_decisions(decisions: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep each decision bar's weights until the next decision bar (rows forward-filled)."""
    n = len(mask)
    idx = np.where(mask, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    out = decisions[idx]
    if n and not mask[0]:
        out[: np.argmax(mask) if mask.any() else n] = 0.0
    return out


def top_n_weights(score: np.ndarray, top: int, *, absolute: bool) -> np.ndarray:
    """Equal weights on the `top` highest scores per row (ties by symbol order); NaN never picked."""
    t, n = score.shape
    ranked = np.where(np.isnan(score), -np.inf, score)
    # argsort of the negated score, stable, so equal scores keep symbol order (deterministic).
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :top]
    picked = np.zeros((t, n), dtype=bool)
    np.put_along_axis(picked, order, True, axis=1)
    picked &= np.isfinite(ranked)
    if absolute:
        picked &= ranked > 0  # absolute momentum: below cash, stay in cash
    return picked / float(top)


@register
class TopNMomentum(Strategy):
    name = "top_n_momentum"
    description = ("Rotation: hold the `top` symbols with the best `lookback`-bar return, equal weights, "
                   "rebalanced monthly (or every `every` bars); symbols with a negative return are skipped "
                   "when `absolute` is on.")
    universe = True
    params = (Param("lookback", "int", 120, 5, 500, 5, help="momentum lookback (bars)"),
              Param("top", "int", 5, 1, 50, 1, help="how many symbols to hold"),
              Param("every", "int", 0, 0, 250, 5, help="rebalance every N bars; 0 = first session of each month"),
              Param("absolute", "bool", True, help="skip symbols whose momentum is negative"))

    def targets(self, panel: Panel) -> np.ndarray:
        v = self.values
        score = lookback_returns(panel, v["lookback"])
        score[~panel.tradable] = np.nan  # cannot buy what does not trade that day
        mask = rebalance_bars(panel.dates, v["every"])
        return hold_from_decisions(top_n_weights(score, v["top"], absolute=v["absolute"]), mask)


@register
class DualMomentum(Strategy):
    name = "dual_momentum"
    description = ("Dual momentum: each month hold the one symbol with the best `lookback`-bar return "
                   "(relative momentum) if that return is positive (absolute momentum), else cash.")
    universe = True
    params = (Param("lookback", "int", 252, 5, 500, 5, help="momentum lookback (bars)"),
              Param("every", "int", 0, 0, 250, 5, help="rebalance every N bars; 0 = monthly"))

    def targets(self, panel: Panel) -> np.ndarray:
        score = lookback_returns(panel, self.values["lookback"])
        score[~panel.tradable] = np.nan
        mask = rebalance_bars(panel.dates, self.values["every"])
        return hold_from_decisions(top_n_weights(score, 1, absolute=True), mask)
