"""Execution: fill prices on the KRX tick grid, costs, and the fill loop over trades only.

Decisions made on bar t's close fill at bar t+1's open, moved by `slippage_ticks` against the
trader and snapped onto the tick grid in force that day. Costs are `market.costs` rates
(integer ppb): commission on both sides, the dated sell tax by market. Everything that
touches money is an integer; the loop runs once per order, never once per bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autostock.market import costs, rules

PPB = costs.PPB
_UNIFIED_FROM = np.datetime64(rules.UNIFIED_FROM, "D")
_TAX_FROM = np.array([row[0] for row in costs.SELL_TAX_TABLE], dtype="datetime64[D]")


def _bands(market: str, on_or_after_unified: bool) -> tuple[np.ndarray, np.ndarray]:
    # rules._table is the same dated table rules.tick_size reads; here it is used vectorised.
    table = rules._table(market, rules.UNIFIED_FROM if on_or_after_unified else rules.UNIFIED_FROM.replace(year=2000))
    return np.array([b for b, _ in table], dtype=np.int64), np.array([t for _, t in table], dtype=np.int64)


def tick_sizes(prices: np.ndarray, dates: np.ndarray, market: str = "KOSPI") -> np.ndarray:
    """rules.tick_size for every (price, date) pair, vectorised."""
    prices = np.asarray(prices, dtype=np.int64)
    out = np.empty(len(prices), dtype=np.int64)
    new = np.asarray(dates) >= _UNIFIED_FROM
    for flag in (True, False):
        mask = new if flag else ~new
        if mask.any():
            bounds, ticks = _bands(market, flag)
            out[mask] = ticks[np.searchsorted(bounds, prices[mask], side="right") - 1]
    return out


def snap(prices: np.ndarray, dates: np.ndarray, market: str, *, up: bool) -> np.ndarray:
    """Prices moved onto the tick grid (up or down), as rules.round_to_tick does."""
    prices = np.asarray(prices, dtype=np.int64)
    tick = tick_sizes(prices, dates, market)
    down = np.maximum(prices - prices % tick, tick)
    if not up:
        return down
    above = np.where(prices % tick == 0, prices, prices - prices % tick + tick)
    t2 = tick_sizes(above, dates, market)  # a band edge can change the tick; re-snap once
    return np.where(above % t2 == 0, above, above + (t2 - above % t2))


def fill_prices(opens: np.ndarray, dates: np.ndarray, market: str,
                slippage_ticks: int) -> tuple[np.ndarray, np.ndarray]:
    """(buy, sell) fill prices at these opens: `slippage_ticks` against the trader, on the grid.

    One tick up is the tick of the price; one tick down is the tick of the price just below
    (so 50,000 − 1 tick is 49,950), the paper broker's rule (brokers.paper.model).
    """
    buy = snap(opens, dates, market, up=True)
    sell = snap(opens, dates, market, up=False)
    for _ in range(slippage_ticks):
        buy = buy + tick_sizes(buy, dates, market)
        sell = np.maximum(sell - tick_sizes(sell - 1, dates, market), 1)
    return buy, sell


def sell_tax_rates(dates: np.ndarray, market: str, product: str = "stock") -> np.ndarray:
    """costs.sell_tax_ppb for every date, vectorised."""
    if product in ("etf", "etn"):
        return np.zeros(len(dates), dtype=np.int64)
    m = market.upper()
    column = 3 if m == "KONEX" else 2 if m.startswith("KOSDAQ") else 1
    rates = np.array([row[column] for row in costs.SELL_TAX_TABLE], dtype=np.int64)
    idx = np.maximum(np.searchsorted(_TAX_FROM, np.asarray(dates, dtype="datetime64[D]"), side="right") - 1, 0)
    return rates[idx]


def apply_rates(values: np.ndarray, ppb: np.ndarray | int) -> np.ndarray:
    """costs.apply_rate on int64 arrays, split so `value × ppb` cannot overflow int64."""
    values = np.asarray(values, dtype=np.int64)
    return (values // PPB) * ppb + (values % PPB) * ppb // PPB


@dataclass(frozen=True)
class Costs:
    """What a fill costs: commission (ppb, both sides, with a floor), slippage in ticks."""

    commission_ppb: int = costs.DEFAULT_COMMISSION_PPB
    min_commission: int = 0
    slippage_ticks: int = 0
    product: str = "stock"


@dataclass
class Fills:
    """Every execution, column-wise. side: +1 buy, −1 sell."""

    bar: np.ndarray
    side: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    commission: np.ndarray
    tax: np.ndarray

    def __len__(self) -> int:
        return len(self.bar)


def _commission(value: int, ppb: int, floor: int) -> int:
    if not value:
        return 0
    fee = value * ppb // PPB
    return fee if fee >= floor else floor


def run_fills(targets: np.ndarray, opens: np.ndarray, dates: np.ndarray, *, cash: int,
              market: str, cost: Costs) -> tuple[Fills, int]:
    """Turn target weights (ppb of equity, decided at each bar's close) into fills.

    Returns the fills and the final cash. Buys are capped by the cash at hand, so the
    position never goes on margin; sells never exceed what is held (long only).
    """
    n = len(targets)
    prev = np.concatenate(([0], targets[:-1]))
    decided = np.flatnonzero(targets[:-1] != prev[:-1]) if n > 1 else np.array([], dtype=np.int64)
    # Order decided at t executes at t+1; the last bar's decision has no next open.
    bars = decided + 1
    buy_px, sell_px = fill_prices(opens[bars], dates[bars], market, cost.slippage_ticks)
    tax_ppb = sell_tax_rates(dates[bars], market, cost.product)
    weights = targets[decided]
    if ((weights == 0) | (weights == PPB)).all():
        return _all_in_all_out(bars, buy_px, sell_px, tax_ppb, cash, cost)
    return _rebalancing(bars, weights, buy_px, sell_px, tax_ppb, opens[bars], cash, cost)


def _all_in_all_out(bars: np.ndarray, buy_px: np.ndarray, sell_px: np.ndarray, tax_ppb: np.ndarray,
                    cash: int, cost: Costs) -> tuple[Fills, int]:
    """Targets that only switch between cash and fully invested: events alternate buy, sell.

    Only the share count depends on the cash path, so the loop computes just that (Python
    ints, a dozen operations per round trip); fees and the fill table are vectorised after.
    """
    ppb, floor = cost.commission_ppb, cost.min_commission
    denominator = PPB + ppb
    sells_sp, sells_tax = sell_px[1::2].tolist(), tax_ppb[1::2].tolist()
    sells_sp.append(0)
    sells_tax.append(0)
    quantities = []
    for p, sp, tx in zip(buy_px[0::2].tolist(), sells_sp, sells_tax):
        q = cash * PPB // (p * denominator)
        # The truncated commission can leave room for exactly one more share (never two).
        v = (q + 1) * p
        if v + v * ppb // PPB <= cash:
            q += 1
        v = q * p
        fee = v * ppb // PPB
        if floor and v:
            while q and v + max(fee, floor) > cash:
                q -= 1
                v = q * p
                fee = v * ppb // PPB
            fee = max(fee, floor) if v else 0
        cash -= v + fee
        v = q * sp
        if v:
            fee = v * ppb // PPB
            cash += v - (fee if fee >= floor else floor) - v * tx // PPB
        quantities.append(q)
    q = np.repeat(np.array(quantities, dtype=np.int64), 2)[:len(bars)]
    side = np.tile(np.array([1, -1], dtype=np.int64), len(quantities))[:len(bars)]
    price = np.where(side > 0, buy_px, sell_px)
    keep = q > 0
    bars, side, q, price, tax_ppb = bars[keep], side[keep], q[keep], price[keep], tax_ppb[keep]
    value = q * price
    fee = np.maximum(apply_rates(value, ppb), floor)
    tax = np.where(side < 0, apply_rates(value, tax_ppb), 0)
    return Fills(bars, side, q, price, fee, tax), cash


def _rebalancing(bars: np.ndarray, weights: np.ndarray, buy_px: np.ndarray, sell_px: np.ndarray,
                 tax_ppb: np.ndarray, marks: np.ndarray, cash: int, cost: Costs) -> tuple[Fills, int]:
    """Any weights: each change resizes the position to weight × equity at the open."""
    ppb, floor = cost.commission_ppb, cost.min_commission
    out_bar, out_side, out_qty, out_px, out_fee, out_tax = [], [], [], [], [], []
    shares = 0
    for b, w, bp, sp, tx, mark in zip(bars.tolist(), weights.tolist(), buy_px.tolist(),
                                      sell_px.tolist(), tax_ppb.tolist(), marks.tolist()):
        want = (cash + shares * mark) * w // PPB // bp if w else 0
        if want > shares:
            q = min(want - shares, cash * PPB // (bp * (PPB + ppb)))
            # Truncated commission can leave room for one more share; the floor for fewer.
            while q + 1 <= want - shares and _affordable(q + 1, bp, ppb, floor, cash):
                q += 1
            while q > 0 and not _affordable(q, bp, ppb, floor, cash):
                q -= 1
            if q <= 0:
                continue
            value = q * bp
            fee = _commission(value, ppb, floor)
            cash -= value + fee
            shares += q
            out_side.append(1)
            out_px.append(bp)
            out_tax.append(0)
        elif want < shares:
            q = shares - want
            value = q * sp
            fee = _commission(value, ppb, floor)
            tax = value * tx // PPB
            cash += value - fee - tax
            shares -= q
            out_side.append(-1)
            out_px.append(sp)
            out_tax.append(tax)
        else:
            continue
        out_bar.append(b)
        out_qty.append(q)
        out_fee.append(fee)
    fills = Fills(np.array(out_bar, dtype=np.int64), np.array(out_side, dtype=np.int64),
                  np.array(out_qty, dtype=np.int64), np.array(out_px, dtype=np.int64),
                  np.array(out_fee, dtype=np.int64), np.array(out_tax, dtype=np.int64))
    return fills, cash


def _affordable(q: int, price: int, ppb: int, floor: int, cash: int) -> bool:
    value = q * price
    return value + _commission(value, ppb, floor) <= cash


def holdings(fills: Fills, n: int, cash: int) -> tuple[np.ndarray, np.ndarray]:
    """(shares, cash) held at each bar's close, from the fills (step functions, int64)."""
    share_delta = np.zeros(n, dtype=np.int64)
    cash_delta = np.zeros(n, dtype=np.int64)
    signed = fills.side * fills.quantity
    # One fill per bar at most (the loop fills each decision once), so plain assignment works.
    share_delta[fills.bar] = signed
    cash_delta[fills.bar] = -signed * fills.price - fills.commission - fills.tax
    cash_path = np.cumsum(cash_delta)
    cash_path += cash
    return np.cumsum(share_delta), cash_path
