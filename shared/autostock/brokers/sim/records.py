"""The exchange's records: instruments, accounts and holdings, orders and fills (plain data)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from autostock.market import rules

MAKER = "__maker__"  # the synthetic liquidity's account; never checked for cash or holdings
OPEN, FILLED, CANCELLED, REJECTED = "open", "filled", "cancelled", "rejected"


class SimReject(Exception):
    """The exchange refused a request. `reason` is one of: tick, price_band, session, funds,
    holdings, quantity, not_found, not_open, unknown_symbol, unknown_account."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Instrument:
    symbol: str
    name: str
    market: str
    prev_close: int
    last: int
    open: int = 0
    high: int = 0
    low: int = 0
    volume: int = 0
    value: int = 0
    depth: int = 100          # maker shares quoted at each side

    @property
    def limits(self) -> tuple[int, int]:
        return rules.price_limits(self.prev_close, self.market)

    @property
    def tick(self) -> int:
        return rules.tick_size(self.last, self.market)


@dataclass
class Holding:
    quantity: int = 0
    cost: int = 0             # total purchase cost in KRW (for the average price)
    reserved: int = 0         # shares tied up in open sell orders
    bought_today: int = 0
    sold_today: int = 0

    @property
    def average_price(self) -> int:
        return self.cost // self.quantity if self.quantity else 0


@dataclass
class Account:
    account_id: str
    cash: int
    reserved: int = 0         # cash tied up in open buy orders
    holdings: dict[str, Holding] = field(default_factory=dict)
    bought_today: int = 0
    sold_today: int = 0
    costs_today: int = 0

    @property
    def buying_power(self) -> int:
        return self.cash - self.reserved


@dataclass
class SimFill:
    fill_id: int
    order_id: int
    account_id: str
    symbol: str
    side: str
    quantity: int
    price: int
    at: dt.datetime


@dataclass
class SimOrder:
    order_id: int
    account_id: str
    symbol: str
    side: str                 # "buy" | "sell"
    order_type: str           # "limit" | "market"
    quantity: int
    price: int                # 0 for market
    at: dt.datetime
    kind: str = "new"         # "new" | "modify" | "cancel"
    original_id: int = 0
    client_id: str = ""
    filled: int = 0
    fill_value: int = 0
    cancelled: int = 0
    status: str = OPEN
    reserve_price: int = 0    # per-share cash reserved for a buy
    reserved_cash: int = 0    # cash still reserved for this buy (released as it fills or ends)
    fills: list[SimFill] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled - self.cancelled

    @property
    def average_price(self) -> int:
        return self.fill_value // self.filled if self.filled else 0
