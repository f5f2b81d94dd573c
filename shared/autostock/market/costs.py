"""Trading costs in integer KRW: commission per side and the sell-side transaction tax.

Rates are integers in parts per billion (ppb) so that the same arithmetic runs on Python ints
and on numpy int64 arrays (the backtest) and never touches a float. Amounts are truncated to
the won, as Korean brokers do (원 미만 절사).

Tax facts: docs/brokers.md §4.4 (2024-2026); earlier steps from the 증권거래세법 schedule:
0.30% until 2019-05-29, 0.25% from 2019-05-30, 0.23% from 2021-01-01, 0.20% from 2023-01-01.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass

PPB = 1_000_000_000

# (effective from, KOSPI ppb, KOSDAQ ppb, KONEX ppb), ascending by date.
SELL_TAX_TABLE: list[tuple[dt.date, int, int, int]] = [
    (dt.date(1990, 1, 1), 3_000_000, 3_000_000, 3_000_000),
    (dt.date(2019, 5, 30), 2_500_000, 2_500_000, 1_000_000),
    (dt.date(2021, 1, 1), 2_300_000, 2_300_000, 1_000_000),
    (dt.date(2023, 1, 1), 2_000_000, 2_000_000, 1_000_000),
    (dt.date(2024, 1, 1), 1_800_000, 1_800_000, 1_000_000),
    (dt.date(2025, 1, 1), 1_500_000, 1_500_000, 1_000_000),
    (dt.date(2026, 1, 1), 2_000_000, 2_000_000, 1_000_000),
]
_TAX_DATES = [row[0] for row in SELL_TAX_TABLE]

# KIS non-face-to-face stock commission, 0.0140527% (fees to KRX/KSD included).
DEFAULT_COMMISSION_PPB = 140_527


def sell_tax_ppb(market: str, on: dt.date, product: str = "stock") -> int:
    """The sell-side tax rate on `on` for `market`; ETFs pay none."""
    if product in ("etf", "etn"):
        return 0
    row = SELL_TAX_TABLE[max(0, bisect_right(_TAX_DATES, on) - 1)]
    m = market.upper()
    if m == "KONEX":
        return row[3]
    if m.startswith("KOSDAQ"):
        return row[2]
    return row[1]


def apply_rate(amount: int, ppb: int) -> int:
    """`amount × ppb / 1e9`, truncated to the won."""
    return amount * ppb // PPB


@dataclass(frozen=True)
class CostModel:
    """Commission (both sides) and tax (sell side) for one account or backtest."""

    commission_ppb: int = DEFAULT_COMMISSION_PPB
    min_commission: int = 0

    def commission(self, value: int) -> int:
        return max(self.min_commission, apply_rate(value, self.commission_ppb)) if value else 0

    def tax(self, value: int, *, side: str, market: str, on: dt.date, product: str = "stock") -> int:
        if side != "sell":
            return 0
        return apply_rate(value, sell_tax_ppb(market, on, product))

    def costs(self, value: int, *, side: str, market: str, on: dt.date,
              product: str = "stock") -> tuple[int, int]:
        """(commission, tax) for a trade of `value` KRW."""
        return self.commission(value), self.tax(value, side=side, market=market, on=on, product=product)
