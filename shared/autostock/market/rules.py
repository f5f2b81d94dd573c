"""KRX price rules: tick size by price band, the daily price limit, lot size.

Facts: docs/brokers.md §4.2-4.3 (shared). The tick table was unified across KOSPI and KOSDAQ on
2023-01-25; before that each market had its own. ETFs, ETNs and ELWs keep a flat 5 KRW tick.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right

UNIFIED_FROM = dt.date(2023, 1, 25)
LIMIT_30_FROM = dt.date(2015, 6, 15)
LOT_SIZE = 1

# (lower bound of band, tick) pairs, ascending.
_UNIFIED = [(0, 1), (2_000, 5), (5_000, 10), (20_000, 50), (50_000, 100), (200_000, 500), (500_000, 1_000)]
_KOSPI_OLD = [(0, 1), (1_000, 5), (5_000, 10), (10_000, 50), (50_000, 100), (100_000, 500), (500_000, 1_000)]
_KOSDAQ_OLD = [(0, 1), (1_000, 5), (5_000, 10), (10_000, 50), (50_000, 100)]
FUND_TICK = 5


def _table(market: str, on: dt.date | None) -> list[tuple[int, int]]:
    if on is None or on >= UNIFIED_FROM:
        return _UNIFIED
    return _KOSPI_OLD if market.upper() == "KOSPI" else _KOSDAQ_OLD


def tick_size(price: int, market: str = "KOSPI", *, on: dt.date | None = None,
              product: str = "stock") -> int:
    """The tick of `price` (KRW) on `market` on date `on` (today's table when None)."""
    if product in ("etf", "etn", "elw"):
        return FUND_TICK
    table = _table(market, on)
    bounds = [b for b, _ in table]
    return table[max(0, bisect_right(bounds, price) - 1)][1]


def is_on_tick(price: int, market: str = "KOSPI", *, on: dt.date | None = None,
               product: str = "stock") -> bool:
    return price > 0 and price % tick_size(price, market, on=on, product=product) == 0


def round_to_tick(price: int, market: str = "KOSPI", *, up: bool, on: dt.date | None = None,
                  product: str = "stock") -> int:
    """The nearest price on the grid at or above (`up`) or at or below `price`."""
    tick = tick_size(price, market, on=on, product=product)
    down = price - price % tick
    if not up or down == price:
        return max(down, tick)
    above = down + tick
    # Crossing a band boundary can change the tick; re-snap once on the new band.
    t2 = tick_size(above, market, on=on, product=product)
    return above if above % t2 == 0 else above + (t2 - above % t2)


def limit_rate_percent(market: str, on: dt.date | None = None) -> int:
    if market.upper() == "KONEX":
        return 15
    if on is not None and on < LIMIT_30_FROM:
        return 15
    return 30


def price_limits(base_price: int, market: str = "KOSPI", *, on: dt.date | None = None,
                 product: str = "stock") -> tuple[int, int]:
    """(lower, upper) daily limit from the base price (usually the previous close).

    The raw ±rate band is snapped inward onto the tick grid; brokers report the same values
    (KIS stck_llam/stck_mxpr) and their word wins where it differs.
    """
    rate = limit_rate_percent(market, on)
    raw_upper = base_price * (100 + rate) // 100
    raw_lower = -((-base_price * (100 - rate)) // 100)  # ceiling
    upper = round_to_tick(raw_upper, market, up=False, on=on, product=product)
    lower = round_to_tick(raw_lower, market, up=True, on=on, product=product)
    return lower, upper


def within_limits(price: int, base_price: int, market: str = "KOSPI", *,
                  on: dt.date | None = None, product: str = "stock") -> bool:
    lower, upper = price_limits(base_price, market, on=on, product=product)
    return lower <= price <= upper
