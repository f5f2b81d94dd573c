"""The single-symbol engine: `Backtest(bars, "sma_cross", cash=...).run(fast=10, slow=30)`.

Everything is checked in `Backtest.__init__` before anything runs. `run` asks the strategy
for target weights over all bars at once, fills only the bars where the target changes
(`fills.run_fills`), and builds the equity curve with cumulative sums, so its cost is a few
vector passes plus one short loop per order.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autostock.backtest import metrics
from autostock.backtest.bars import Bars
from autostock.backtest.fills import PPB, Costs, Fills, holdings, run_fills
from autostock.backtest.strategies.base import Strategy, lookup
from autostock.errors import ValidationError

MAX_CASH = 10**15  # a quadrillion won keeps every int64 product (shares × price) far from overflow


def _int_arg(name: str, value: Any, low: int, high: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(f"{name} must be an integer ({fix}), was {value!r}", code="invalid_argument",
                              details={"field": name})
    if not low <= value <= high:
        raise ValidationError(f"{name} must be within {low:,}..{high:,} ({fix}), was {value:,}",
                              code="invalid_argument", details={"field": name})
    return int(value)


def check_costs(commission_ppb: Any, min_commission: Any, slippage_ticks: Any, product: str) -> Costs:
    return Costs(
        commission_ppb=_int_arg("commission_ppb", commission_ppb, 0, PPB // 10,
                                "parts per billion: 140527 is 0.0140527%"),
        min_commission=_int_arg("min_commission", min_commission, 0, 1_000_000, "KRW per fill"),
        slippage_ticks=_int_arg("slippage_ticks", slippage_ticks, 0, 100, "ticks against you per fill"),
        product=product)


def strategy_class(strategy: Any, *, allow_import: bool = True) -> type[Strategy]:
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy
    if isinstance(strategy, str):
        if ":" in strategy and not allow_import:
            raise ValidationError("strategies are chosen by name here; see GET /api/v1/backtest/strategies",
                                  code="unknown_strategy")
        return lookup(strategy)
    raise ValidationError(f"strategy must be a name or a Strategy subclass, was {type(strategy).__name__}",
                          code="unknown_strategy")


def target_weights(strategy: Strategy, data: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The strategy's targets as int64 ppb of equity, checked (0..1 each, NaN means cash)."""
    try:
        raw = np.asarray(strategy.targets(data), dtype=np.float64)
    except ValidationError:
        raise
    except Exception as e:
        raise ValidationError(f"strategy {strategy.name} failed: {type(e).__name__}: {e}",
                              code="strategy_failed") from e
    if raw.shape != shape:
        raise ValidationError(f"strategy {strategy.name} returned targets of shape {raw.shape}; "
                              f"it must return one value per bar {shape}", code="strategy_failed")
    scaled = raw * PPB
    scaled[np.isnan(scaled)] = 0.0  # NaN (warm-up) means cash
    if raw.ndim == 2 and (scaled.sum(axis=1) > PPB * (1 + 1e-9)).any() or not (
            0 <= scaled.min(initial=0) and scaled.max(initial=0) <= PPB):
        raise ValidationError(f"strategy {strategy.name} returned weights outside 0..1 (long only, "
                              "at most all of the equity)", code="strategy_failed")
    return np.rint(scaled, out=scaled).astype(np.int64)


@dataclass
class Result:
    """One run: the fills, the int64 shares/cash/equity paths, the figures and the warnings."""

    strategy: str
    params: dict[str, Any]
    bars: Bars
    fills: Fills
    shares: np.ndarray
    cash: np.ndarray
    equity: np.ndarray
    warnings: list[str] = field(default_factory=list)
    benchmark: dict[str, Any] | None = None

    def trades(self) -> list[dict[str, Any]]:
        f = self.fills
        trades = metrics.round_trips(f.bar, f.side, f.quantity, f.price, f.commission, f.tax)
        for t in trades:
            t["entry_date"] = str(self.bars.dates[t["entry_bar"]])
            t["exit_date"] = str(self.bars.dates[t["exit_bar"]]) if t["exit_bar"] is not None else None
        return trades

    def closed_pnl(self) -> np.ndarray:
        f = self.fills
        table = metrics.round_trip_table(f.bar, f.side, f.quantity, f.price, f.commission, f.tax)
        return table["pnl"][table["closed"]]

    def stats(self) -> dict[str, Any]:
        traded = int((self.fills.quantity * self.fills.price).sum())
        return metrics.summary(self.equity, self.bars.dates, invested=self.shares > 0,
                               traded_value=traded, pnl=self.closed_pnl())

    def fill_list(self) -> list[dict[str, Any]]:
        f = self.fills
        return [{"date": str(self.bars.dates[b]), "side": "buy" if s > 0 else "sell", "quantity": q,
                 "price": p, "commission": c, "tax": t}
                for b, s, q, p, c, t in zip(f.bar.tolist(), f.side.tolist(), f.quantity.tolist(),
                                            f.price.tolist(), f.commission.tolist(), f.tax.tolist())]

    def to_dict(self, *, curves: bool = True) -> dict[str, Any]:
        """JSON-ready: stats, trades, fills, and optionally the equity/drawdown curves."""
        out: dict[str, Any] = {"strategy": self.strategy, "params": self.params, "symbol": self.bars.symbol,
                               "start": str(self.bars.dates[0]), "end": str(self.bars.dates[-1]),
                               "bars": len(self.bars), "stats": self.stats(), "trades": self.trades(),
                               "fills": self.fill_list(), "warnings": self.warnings,
                               "monthly_returns": metrics.monthly_returns(self.equity, self.bars.dates),
                               "benchmark": self.benchmark}
        if curves:
            out["curve"] = {"dates": [str(d) for d in self.bars.dates],
                            "equity": self.equity.tolist(),
                            "drawdown": [round(x, 6) for x in metrics.drawdown(self.equity).tolist()]}
        return out


class Backtest:
    """A strategy on one symbol's daily bars with integer cash, KRX ticks and KRX costs."""

    def __init__(self, data: Any, strategy: Any, *, cash: int = 10_000_000,
                 commission_ppb: int = 140_527, min_commission: int = 0, slippage_ticks: int = 0,
                 symbol: str = "", market: str = "KOSPI", product: str = "stock",
                 allow_import: bool = True) -> None:
        self.bars = data if isinstance(data, Bars) else Bars.from_frame(data, symbol=symbol, market=market)
        self.strategy_cls = strategy_class(strategy, allow_import=allow_import)
        if self.strategy_cls.universe:
            raise ValidationError(f"{self.strategy_cls.name} trades a universe; use Portfolio(...)",
                                  code="invalid_argument")
        self.cash = _int_arg("cash", cash, 1, MAX_CASH, "whole KRW")
        self.costs = check_costs(commission_ppb, min_commission, slippage_ticks, product)
        if market.upper() not in ("KOSPI", "KOSDAQ", "KOSDAQ GLOBAL", "KONEX"):
            raise ValidationError(f"market must be KOSPI, KOSDAQ or KONEX, was {market!r}", code="invalid_argument")
        self.warnings = list(self.bars.warnings)
        if self.cash < int(self.bars.open.max()):
            self.warnings.append("the cash is smaller than the price of one share on some days; "
                                 "orders on those days cannot fill")

    def window(self, start: int, stop: int) -> Backtest:
        """The same backtest on bars [start, stop) (walk-forward windows)."""
        clone = copy.copy(self)
        clone.bars = self.bars.slice(start, stop)
        return clone

    def run(self, **params: Any) -> Result:
        strategy = self.strategy_cls(**params)
        bars = self.bars
        warnings = list(self.warnings)
        if strategy.warmup() >= len(bars):
            warnings.append(f"{strategy.name} needs {strategy.warmup()} bars to warm up and the data has "
                            f"{len(bars)}; it will never trade")
        targets = target_weights(strategy, bars, (len(bars),))
        fills, _ = run_fills(targets, bars.open, bars.dates, cash=self.cash, market=bars.market, cost=self.costs)
        shares, cash = holdings(fills, len(bars), self.cash)
        equity = cash + shares * bars.close
        off_grid = int((fills.price != bars.open[fills.bar]).sum()) if not self.costs.slippage_ticks else 0
        if off_grid:
            warnings.append(f"{off_grid} fill(s) were moved onto the tick grid of their day "
                            "(adjusted historical prices are often off the grid)")
        return Result(strategy.name, strategy.values, bars, fills, shares, cash, equity, warnings)

    def run_with_benchmark(self, index_close: Any = None, **params: Any) -> Result:
        """`run`, plus buy & hold of the symbol (and an index, if given) side by side."""
        result = self.run(**params)
        hold = Backtest(self.bars, "buy_and_hold", cash=self.cash, commission_ppb=self.costs.commission_ppb,
                        min_commission=self.costs.min_commission, slippage_ticks=self.costs.slippage_ticks).run()
        result.benchmark = {"buy_and_hold": _brief(hold.stats())}
        if index_close is not None:
            result.benchmark["index"] = index_stats(index_close, self.bars.dates)
        return result


def _brief(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("total_return", "cagr", "annual_volatility", "sharpe", "max_drawdown", "calmar", "final_equity")
    return {k: stats[k] for k in keys}


def index_stats(index_close: Any, dates: np.ndarray) -> dict[str, Any] | None:
    """Return figures of an index (a date-indexed Series of points) over the backtest's dates."""
    import pandas as pd
    s = pd.Series(index_close).astype(np.float64)
    s.index = pd.DatetimeIndex(s.index)
    aligned = s.reindex(pd.DatetimeIndex(dates)).ffill().dropna()
    if len(aligned) < 2:
        return None
    values = aligned.to_numpy()
    d = aligned.index.to_numpy().astype("datetime64[D]")
    r = metrics.returns(values)
    mdd, _ = metrics.max_drawdown(values)
    growth = metrics.cagr(values, d)
    out = {"total_return": values[-1] / values[0] - 1.0, "cagr": growth,
           "annual_volatility": metrics.annual_volatility(r), "sharpe": metrics.sharpe(r),
           "max_drawdown": mdd, "calmar": growth / -mdd if mdd < 0 else 0.0, "from": str(d[0])}
    return {k: (float(v) if isinstance(v, float) and math.isfinite(v) else v) for k, v in out.items()}
