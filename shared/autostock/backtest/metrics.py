"""Performance metrics: pure functions of an equity curve (int64 KRW), its dates and trades.

Ratios and returns are floats (they are not money); amounts stay integer KRW. Annualisation
uses 252 sessions a year; CAGR uses calendar time between the first and last bar.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

SESSIONS_PER_YEAR = 252


def returns(equity: np.ndarray) -> np.ndarray:
    """Bar-to-bar simple returns (one fewer than the equity points)."""
    e = np.asarray(equity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e[1:] / e[:-1] - 1.0
    r[~np.isfinite(r)] = 0.0  # equity of 0 (ruin) has no defined return afterwards
    return r


def years(dates: np.ndarray) -> float:
    if len(dates) < 2:
        return 0.0
    days = (dates[-1] - dates[0]).astype("timedelta64[D]").astype(np.int64)
    return max(float(days) / 365.25, 1 / 365.25)


def cagr(equity: np.ndarray, dates: np.ndarray) -> float:
    if len(equity) < 2 or equity[0] <= 0:
        return 0.0
    growth = float(equity[-1]) / float(equity[0])
    return growth ** (1.0 / years(dates)) - 1.0 if growth > 0 else -1.0


def annual_volatility(r: np.ndarray) -> float:
    return float(np.std(r) * math.sqrt(SESSIONS_PER_YEAR)) if len(r) > 1 else 0.0


def sharpe(r: np.ndarray) -> float:
    """Annualised mean over standard deviation of daily returns (risk-free rate 0)."""
    sd = np.std(r) if len(r) > 1 else 0.0
    return float(np.mean(r) / sd * math.sqrt(SESSIONS_PER_YEAR)) if sd > 0 else 0.0


def sortino(r: np.ndarray) -> float:
    """Like Sharpe, but divided by the downside deviation (returns below 0 only)."""
    if len(r) < 2:
        return 0.0
    down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(np.mean(r) / down * math.sqrt(SESSIONS_PER_YEAR)) if down > 0 else 0.0


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Fractional distance below the running peak at each bar (0 or negative)."""
    e = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = e / peak - 1.0
    dd[~np.isfinite(dd)] = 0.0
    return dd


def max_drawdown(equity: np.ndarray, dd: np.ndarray | None = None) -> tuple[float, int]:
    """(deepest drawdown as a negative fraction, longest time under a peak in bars)."""
    if len(equity) == 0:
        return 0.0, 0
    dd = drawdown(equity) if dd is None else dd
    under = dd < 0
    longest = 0
    if under.any():
        # Lengths of runs of consecutive underwater bars.
        edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
        longest = int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
    return float(dd.min()), longest


def round_trip_table(bar: np.ndarray, side: np.ndarray, quantity: np.ndarray, price: np.ndarray,
                     commission: np.ndarray, tax: np.ndarray) -> dict[str, np.ndarray]:
    """Fills grouped into trades (from flat to flat again), column-wise; vectorised.

    `closed` is False for a trade still open at the end; its exit and pnl are then meaningless.
    """
    signed = side * quantity
    held = np.cumsum(signed)
    starts = np.flatnonzero(held - signed == 0)
    if len(starts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {k: empty for k in ("entry_bar", "exit_bar", "entry_price", "exit_price", "quantity", "bought",
                                   "sold", "costs", "pnl")} | {"closed": np.zeros(0, dtype=bool)}
    ends = np.concatenate((starts[1:] - 1, [len(bar) - 1]))
    value = quantity * price
    bought = np.add.reduceat(np.where(side > 0, value, 0), starts)
    sold = np.add.reduceat(np.where(side < 0, value, 0), starts)
    costs = np.add.reduceat(commission + tax, starts)
    return {"entry_bar": bar[starts], "exit_bar": bar[ends], "entry_price": price[starts],
            "exit_price": price[ends], "quantity": np.add.reduceat(np.where(side > 0, quantity, 0), starts),
            "bought": bought, "sold": sold, "costs": costs, "pnl": sold - bought - costs,
            "closed": held[ends] == 0}


def round_trips(bar: np.ndarray, side: np.ndarray, quantity: np.ndarray, price: np.ndarray,
                commission: np.ndarray, tax: np.ndarray) -> list[dict[str, Any]]:
    """The trade table as a list of dicts (an open trade has exit and pnl None)."""
    table = round_trip_table(bar, side, quantity, price, commission, tax)
    keys = ("entry_bar", "exit_bar", "entry_price", "exit_price", "quantity", "bought", "sold", "costs", "pnl")
    columns = [table[k].tolist() for k in keys]
    trades = []
    for closed, *values in zip(table["closed"].tolist(), *columns):
        t = dict(zip(keys, values))
        if not closed:
            t.update(exit_bar=None, exit_price=None, pnl=None)
        trades.append(t)
    return trades


def trade_stats(pnl: np.ndarray) -> dict[str, Any]:
    """Win rate, profit factor, average and count over closed trades' net KRW P&L."""
    pnl = np.asarray(pnl, dtype=np.int64)
    wins, losses = pnl[pnl > 0], pnl[pnl <= 0]
    gross_loss = -int(losses.sum())
    n = len(pnl)
    return {
        "trade_count": n,
        "win_rate": len(wins) / n if n else 0.0,
        "profit_factor": (int(wins.sum()) / gross_loss) if gross_loss > 0 else (math.inf if len(wins) else 0.0),
        "avg_trade": int(pnl.sum()) // n if n else 0,
    }


def summary(equity: np.ndarray, dates: np.ndarray, *, invested: np.ndarray, traded_value: int,
            pnl: np.ndarray) -> dict[str, Any]:
    """Every headline figure of one run, JSON-ready (ratios as floats, money as int)."""
    r = returns(equity)
    mdd, mdd_bars = max_drawdown(equity)
    growth = cagr(equity, dates)
    avg_equity = float(np.mean(equity)) if len(equity) else 0.0
    out = {
        "start_equity": int(equity[0]), "final_equity": int(equity[-1]),
        "total_return": float(equity[-1]) / float(equity[0]) - 1.0 if equity[0] else 0.0,
        "cagr": growth,
        "annual_volatility": annual_volatility(r),
        "sharpe": sharpe(r),
        "sortino": sortino(r),
        "max_drawdown": mdd,
        "max_drawdown_duration": mdd_bars,
        "calmar": growth / -mdd if mdd < 0 else 0.0,
        "exposure": float(np.mean(invested)) if len(invested) else 0.0,
        "turnover": traded_value / avg_equity / years(dates) if avg_equity > 0 else 0.0,
        **trade_stats(pnl),
    }
    out["return_over_drawdown"] = out["total_return"] / -mdd if mdd < 0 else 0.0
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def monthly_returns(equity: np.ndarray, dates: np.ndarray) -> dict[str, dict[str, float]]:
    """{year: {month: return}} from month-end equity (the first month from the first bar)."""
    s = pd.Series(np.asarray(equity, dtype=np.float64), index=pd.DatetimeIndex(dates))
    month_end = s.groupby([s.index.year, s.index.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = s.iloc[0]
    table: dict[str, dict[str, float]] = {}
    for (y, m), value in (month_end / prev - 1.0).items():
        table.setdefault(str(y), {})[str(m)] = round(float(value), 6)
    return table


def objective(stats: dict[str, Any], name: str) -> float:
    """The figure an optimiser maximises; missing or undefined counts as −∞."""
    key = {"return_drawdown": "return_over_drawdown", "return": "total_return"}.get(name, name)
    value = stats.get(key)
    return float(value) if value is not None else -math.inf


OBJECTIVES = ("sharpe", "cagr", "calmar", "return_drawdown", "sortino", "return")
