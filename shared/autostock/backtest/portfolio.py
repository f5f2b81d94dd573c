"""The portfolio engine: a universe strategy's weight matrix, filled under one cash balance.

On each rebalance (a bar whose target row differs from the previous one) orders fill at the
next open: sells first, so their proceeds pay for the buys; buys in symbol order, each capped
by the cash left, so the account never goes negative. A symbol without a bar that day keeps
its shares. Money is int64 KRW throughout; the loop runs once per rebalance.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autostock.backtest import metrics
from autostock.backtest.engine import MAX_CASH, _int_arg, check_costs, strategy_class, target_weights
from autostock.backtest.fills import PPB, Costs, apply_rates, fill_prices, sell_tax_rates
from autostock.backtest.panel import Panel
from autostock.errors import ValidationError


@dataclass
class PortfolioResult:
    strategy: str
    params: dict[str, Any]
    panel: Panel
    fills: dict[str, np.ndarray]
    shares: np.ndarray
    cash: np.ndarray
    equity: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        traded = int((self.fills["quantity"] * self.fills["price"]).sum())
        pnl = np.array([t["pnl"] for t in self.trades() if t["pnl"] is not None], dtype=np.int64)
        return metrics.summary(self.equity, self.panel.dates, invested=self.shares.sum(axis=1) > 0,
                               traded_value=traded, pnl=pnl)

    def trades(self) -> list[dict[str, Any]]:
        f = self.fills
        out = []
        for j, symbol in enumerate(self.panel.symbols):
            mine = f["symbol"] == j
            for t in metrics.round_trips(*(f[k][mine] for k in ("bar", "side", "quantity", "price",
                                                              "commission", "tax"))):
                t["symbol"] = symbol
                out.append(t)
        return sorted(out, key=lambda t: (t["entry_bar"], t["symbol"]))

    def to_dict(self, *, curves: bool = True) -> dict[str, Any]:
        d = self.panel.dates
        out: dict[str, Any] = {"strategy": self.strategy, "params": self.params, "symbols": list(self.panel.symbols),
                               "start": str(d[0]), "end": str(d[-1]), "bars": len(d), "stats": self.stats(),
                               "trades": [{**t, "entry_date": str(d[t["entry_bar"]]),
                                           "exit_date": str(d[t["exit_bar"]]) if t["exit_bar"] is not None else None}
                                          for t in self.trades()],
                               "warnings": self.warnings,
                               "monthly_returns": metrics.monthly_returns(self.equity, d)}
        if curves:
            out["curve"] = {"dates": [str(x) for x in d], "equity": self.equity.tolist(),
                            "drawdown": [round(x, 6) for x in metrics.drawdown(self.equity).tolist()]}
        return out


class Portfolio:
    """A universe strategy over a `Panel` (or a {symbol: bars DataFrame} mapping)."""

    def __init__(self, data: Any, strategy: Any, *, cash: int = 100_000_000, commission_ppb: int = 140_527,
                 min_commission: int = 0, slippage_ticks: int = 0, markets: dict[str, str] | None = None,
                 allow_import: bool = True) -> None:
        self.panel = data if isinstance(data, Panel) else Panel.from_frames(data, markets)
        if len(self.panel) < 2:
            raise ValidationError("a backtest needs at least two bars", code="invalid_bars")
        self.strategy_cls = strategy_class(strategy, allow_import=allow_import)
        if not self.strategy_cls.universe:
            raise ValidationError(f"{self.strategy_cls.name} trades one symbol; use Backtest(...)",
                                  code="invalid_argument")
        self.cash = _int_arg("cash", cash, 1, MAX_CASH, "whole KRW")
        self.costs = check_costs(commission_ppb, min_commission, slippage_ticks, "stock")

    def window(self, start: int, stop: int) -> Portfolio:
        clone = copy.copy(self)
        clone.panel = self.panel.slice(start, stop)
        return clone

    def run(self, **params: Any) -> PortfolioResult:
        strategy = self.strategy_cls(**params)
        p = self.panel
        targets = target_weights(strategy, p, p.open.shape)
        fills, shares, cash = _fill(p, targets, self.cash, self.costs)
        equity = cash + (shares * p.close).sum(axis=1)
        return PortfolioResult(strategy.name, strategy.values, p, fills, shares, cash, equity, list(p.warnings))


def _prices(p: Panel, row: int, cost: Costs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buy price, sell price, sell tax ppb) per symbol at bar `row`."""
    n = len(p.symbols)
    buy, sell, tax = (np.zeros(n, dtype=np.int64) for _ in range(3))
    ok = p.tradable[row]
    dates = np.full(n, p.dates[row])
    for market in set(p.markets):
        cols = np.flatnonzero(ok & (np.array(p.markets) == market))
        if len(cols):
            buy[cols], sell[cols] = fill_prices(p.open[row, cols], dates[cols], market, cost.slippage_ticks)
            tax[cols] = sell_tax_rates(dates[cols], market, cost.product)
    return buy, sell, tax


def _fees(values: np.ndarray, cost: Costs) -> np.ndarray:
    fee = apply_rates(values, cost.commission_ppb)
    return np.where(values > 0, np.maximum(fee, cost.min_commission), 0)


def _fill(p: Panel, targets: np.ndarray, cash: int,
          cost: Costs) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    t, n = targets.shape
    initial = cash
    changed = np.flatnonzero((targets[1:-1] != targets[:-2]).any(axis=1)) + 1
    events = np.concatenate(([0], changed)) if t > 1 and targets[0].any() else changed
    held = np.zeros(n, dtype=np.int64)
    rows: list[tuple[np.ndarray, ...]] = []
    share_delta = np.zeros((t, n), dtype=np.int64)
    cash_delta = np.zeros(t, dtype=np.int64)
    for i in events.tolist():
        row = i + 1  # decided at i's close, filled at the next open
        buy_px, sell_px, tax_ppb = _prices(p, row, cost)
        ok = p.tradable[row]
        mark = np.where(ok, p.open[row], p.close[i])
        equity = cash + int((held * mark).sum())
        want = np.where(ok & (buy_px > 0), equity * targets[i] // PPB // np.maximum(buy_px, 1), held)
        sell_q = np.where(want < held, held - want, 0)
        value = sell_q * sell_px
        fee, tax = _fees(value, cost), apply_rates(value, tax_ppb)
        cash += int((value - fee - tax).sum())
        buy_q = np.where(want > held, want - held, 0)
        buy_q = _cap_by_cash(buy_q, buy_px, cash, cost)
        bvalue = buy_q * buy_px
        bfee = _fees(bvalue, cost)
        cash -= int((bvalue + bfee).sum())
        held = held - sell_q + buy_q
        share_delta[row] = buy_q - sell_q
        cash_delta[row] = int((value - fee - tax).sum()) - int((bvalue + bfee).sum())
        for side, q, px, f, tx in ((-1, sell_q, sell_px, fee, tax), (1, buy_q, buy_px, bfee, np.zeros(n, np.int64))):
            cols = np.flatnonzero(q)
            if len(cols):
                rows.append((np.full(len(cols), row), cols, np.full(len(cols), side), q[cols], px[cols], f[cols],
                             tx[cols]))
    names = ("bar", "symbol", "side", "quantity", "price", "commission", "tax")
    fills = {k: (np.concatenate([r[j] for r in rows]).astype(np.int64) if rows else np.zeros(0, np.int64))
             for j, k in enumerate(names)}
    return fills, np.cumsum(share_delta, axis=0), np.cumsum(cash_delta) + initial


def _cap_by_cash(qty: np.ndarray, price: np.ndarray, cash: int, cost: Costs) -> np.ndarray:
    """Buys in symbol order while the cash lasts; the first that does not fit is cut to what does."""
    value = qty * price
    total = value + _fees(value, cost)
    cum = np.cumsum(total)
    if len(cum) == 0 or cum[-1] <= cash:
        return qty
    out = np.where(cum <= cash, qty, 0)
    first = int(np.argmax(cum > cash))
    left = cash - (int(cum[first - 1]) if first else 0)
    px = int(price[first])
    q = left * PPB // (px * (PPB + cost.commission_ppb)) if px else 0
    while q > 0 and q * px + max(q * px * cost.commission_ppb // PPB, cost.min_commission) > left:
        q -= 1
    out[first] = min(q, int(qty[first]))
    return out
