"""The one broker interface every adapter implements, and the typed values it speaks in.

    +--------------------------------+-------------+------------------------------------------+
    | method                         | requirement | notes                                    |
    +--------------------------------+-------------+------------------------------------------+
    | connect()                      | required    | token / session; idempotent              |
    | account_info()                 | required    |                                          |
    | balance()                      | required    | cash, buying power                       |
    | positions()                    | required    |                                          |
    | place_order(request)           | required    | never retried; timeout → UnknownOutcome  |
    | place_order_in(conn, request)  | optional    | brokers whose books are in our database  |
    | modify_order(id, qty, price)   | required    |                                          |
    | cancel_order(id, qty=None)     | required    | None = all remaining                     |
    | order_status(id)               | required    | the broker's truth; resolves `unknown`   |
    | orders_today()                 | required    | with fills                               |
    | find_order(client_order_id, …) | optional    | resolve an order whose ack was lost      |
    | quote(symbol)                  | required    |                                          |
    | daily_bars(symbol, start, end) | required    |                                          |
    | close()                        | required    |                                          |
    +--------------------------------+-------------+------------------------------------------+

Every value is integer KRW or an integer share count. Quirks of one broker live in its
class-level `capabilities` mapping, never in `if broker == ...` elsewhere.

Errors (autostock.errors): `BrokerRejected` (the broker said no: bad price, no funds, closed
market; its code and message kept in `details`), `BrokerUnavailable` (temporary: retry a
read, never an order), `AuthError` for credentials the broker refused, `UnknownOutcome` when
an order was sent and no answer came back.
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar

from autostock.errors import BrokerUnavailable


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"


class OrderType(str, enum.Enum):
    LIMIT = "limit"
    MARKET = "market"


class OrderState(str, enum.Enum):
    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_open(self) -> bool:
        return self in (OrderState.PENDING_NEW, OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED,
                        OrderState.PENDING_CANCEL, OrderState.UNKNOWN)


class UnknownOutcome(BrokerUnavailable):
    """An order request was sent and no answer came back: it may or may not exist.

    The caller records the order as `unknown` and resolves it later with `order_status` /
    `find_order`; it must never send the order again.
    """

    code = "order_outcome_unknown"


@dataclass(frozen=True)
class BrokerCredentials:
    """What an adapter needs to log in; built from the decrypted broker account."""

    app_key: str
    app_secret: str
    account_number: str            # KIS: 8-digit CANO + "-" + 2-digit product code, e.g. "50123456-01"
    account_password: str = ""
    paper: bool = True

    def __repr__(self) -> str:
        return f"BrokerCredentials(account={self.account_number[:4]}****, paper={self.paper})"


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    price: int = 0                 # 0 for market orders
    client_order_id: str = ""      # our id; sent where the broker keeps one


@dataclass(frozen=True)
class OrderAck:
    broker_order_id: str
    accepted_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The order as the broker stood when it answered, for a broker that knows it without
    # another call (the paper broker fills a marketable order before it answers); None means
    # ask `order_status` for it.
    status: OrderStatus | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fill:
    broker_order_id: str
    fill_id: str                   # unique per fill at this broker (idempotency key for applying it)
    symbol: str
    side: Side
    quantity: int
    price: int
    filled_at: dt.datetime | None = None


@dataclass(frozen=True)
class OrderStatus:
    broker_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    price: int
    filled_quantity: int
    average_fill_price: int        # KRW, truncated; 0 when nothing filled
    state: OrderState
    cancelled_quantity: int = 0
    fills: tuple[Fill, ...] = ()
    reason: str = ""
    # The order number this order replaced: a modify at KIS, LS or Kiwoom is a new order that
    # cancels the old one. Empty for a new order and for a cancel's own record.
    replaces: str = ""

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity - self.cancelled_quantity


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: int
    average_price: int
    sellable_quantity: int
    name: str = ""
    last_price: int = 0


@dataclass(frozen=True)
class Balance:
    cash: int                      # deposit (예수금)
    buying_power: int              # what can be spent on buys now
    total_equity: int = 0
    settlement_d1: int = 0
    settlement_d2: int = 0


@dataclass(frozen=True)
class AccountInfo:
    broker: str
    account_number: str            # masked where shown
    paper: bool
    name: str = ""


@dataclass(frozen=True)
class Quote:
    symbol: str
    price: int
    bid: int = 0
    ask: int = 0
    volume: int = 0
    previous_close: int = 0
    upper_limit: int = 0
    lower_limit: int = 0
    at: dt.datetime | None = None


@dataclass(frozen=True)
class DailyBar:
    date: dt.date
    open: int
    high: int
    low: int
    close: int
    volume: int


class Broker(abc.ABC):
    """One broker account, as the platform sees it."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[dict[str, Any]] = {}

    @abc.abstractmethod
    def connect(self) -> None: ...

    @abc.abstractmethod
    def account_info(self) -> AccountInfo: ...

    @abc.abstractmethod
    def balance(self) -> Balance: ...

    @abc.abstractmethod
    def positions(self) -> list[Position]: ...

    @abc.abstractmethod
    def place_order(self, request: OrderRequest) -> OrderAck: ...

    @abc.abstractmethod
    def modify_order(self, broker_order_id: str, quantity: int, price: int) -> OrderAck: ...

    @abc.abstractmethod
    def cancel_order(self, broker_order_id: str, quantity: int | None = None) -> OrderAck: ...

    @abc.abstractmethod
    def order_status(self, broker_order_id: str) -> OrderStatus: ...

    @abc.abstractmethod
    def orders_today(self) -> list[OrderStatus]: ...

    def find_order(self, client_order_id: str, sent: OrderRequest | None = None,
                   known: Collection[str] = ()) -> OrderStatus | None:
        """The order we sent with `client_order_id`, when the broker can tell; else None.

        `sent` is the request as the platform recorded it and `known` the broker's order ids
        its other orders hold: a broker that keeps no client order id matches on them (the
        adapter's own memory is empty in another process or after a restart). Only a broker
        whose `capabilities["find_order"]` is true can say an order is not there."""
        return None

    def place_order_in(self, conn: Any, request: OrderRequest) -> OrderAck:
        """Place inside the caller's open transaction on `conn` (a psycopg connection), so that
        the order is placed in the same commit as the platform's record of it; the ack's
        status carries what happened to it (fills included) for the caller to record there.
        A refusal raises after the broker may have written its half: the caller rolls its
        transaction back (order entry then records the rejection in a transaction of its own).
        Only a broker whose books live in the platform's database can (the paper broker; the
        broker router says which)."""
        raise NotImplementedError(f"{self.name} places orders over the network, not in a transaction")

    @abc.abstractmethod
    def quote(self, symbol: str) -> Quote: ...

    @abc.abstractmethod
    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and sockets."""
