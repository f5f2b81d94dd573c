"""Order field checks and pricing: the tick grid, the daily limits, what a buy reserves.

A limit order's price must sit on the KRX tick grid and inside the day's limits; a market
order carries no price and reserves cash at the upper limit (what a broker holds back).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import TypeVar

from autostock.brokers.base import OrderType, Quote, Side
from autostock.errors import AppError, BrokerRejected, ServiceUnavailable, ValidationError
from autostock.market import rules
from autostock.orders.book import buy_reservation
from autostock.orders.desk import AccountTerms, Desk
from autostock.orders.directory import Instrument

E = TypeVar("E", bound=enum.Enum)
_SYMBOL = re.compile(r"^[0-9A-Z]{6}$")
_CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_QUANTITY = 10_000_000


def _bad(field: str, message: str, code: str = "validation_error") -> ValidationError:
    return ValidationError(message, code=code, details={"fields": {field: message}})


def symbol_of(value: str) -> str:
    symbol = value.strip().upper()
    if not _SYMBOL.match(symbol):
        raise _bad("symbol", f"symbol must be a 6-character KRX code such as 005930, was {value!r}",
                   "invalid_symbol")
    return symbol


def choice(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value.lower())
    except ValueError as e:
        names = ", ".join(m.value for m in kind)  # type: ignore[attr-defined]
        raise _bad(field, f"{field} must be one of {names}, was {value!r}") from e


def positive_quantity(value: int) -> int:
    if value <= 0 or value > MAX_QUANTITY:
        raise _bad("quantity", f"quantity must be a whole number of shares from 1 to {MAX_QUANTITY}",
                   "invalid_quantity")
    return value


def time_in_force(value: str | None) -> str:
    if value is None or value.lower() == "day":
        return "day"
    raise _bad("time_in_force", "time_in_force must be 'day' (KRX orders live until the close)")


def client_order_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not _CLIENT_ID.match(value):
        raise _bad("client_order_id", "an idempotency key / client_order_id is 1-255 printable characters",
                   "invalid_idempotency_key")
    return value


@dataclass(frozen=True)
class Priced:
    price: int            # sent to the broker (0 for market)
    reserve_price: int    # what each share may cost at most
    reservation: int      # cash held back for a buy (value + commission); 0 for a sell
    mark_price: int       # for position-size limits


def _reference(desk: Desk, account: AccountTerms, symbol: str) -> Quote | None:
    try:
        return desk.reference(account, symbol)
    except AppError:
        return None


def limits_of(quote: Quote, instrument: Instrument, on: dt.date) -> tuple[int, int]:
    if quote.upper_limit and quote.lower_limit:
        return quote.lower_limit, quote.upper_limit
    if quote.previous_close:
        return rules.price_limits(quote.previous_close, instrument.market, on=on, product=instrument.product)
    return 0, 0


def price_order(desk: Desk, account: AccountTerms, instrument: Instrument, order_type: OrderType,
                side: Side, quantity: int, price: int, *, on: dt.date) -> Priced:
    """Check the price against the grid and the limits; work out the reservation."""
    quote = _reference(desk, account, instrument.symbol)
    lower, upper = limits_of(quote, instrument, on) if quote else (0, 0)
    if order_type is OrderType.MARKET:
        if price:
            raise _bad("price", "a market order takes no price", "invalid_price")
        if not upper:
            raise ServiceUnavailable(f"no reference price for {instrument.symbol}; a market order"
                                     " cannot be priced now", code="no_reference_price")
        reserve, mark = upper, quote.ask or quote.price or upper
    else:
        if price <= 0:
            raise _bad("price", "a limit order needs a price in KRW above 0", "invalid_price")
        if not rules.is_on_tick(price, instrument.market, on=on, product=instrument.product):
            tick = rules.tick_size(price, instrument.market, on=on, product=instrument.product)
            raise ValidationError(f"price {price} is not on the {tick} KRW tick grid", code="invalid_tick",
                                  details={"fields": {"price": f"must be a multiple of {tick}"},
                                           "tick": tick})
        if upper and not lower <= price <= upper:
            raise BrokerRejected(f"price {price} is outside today's limits {lower}-{upper}",
                                 code="price_outside_limits", details={"lower": lower, "upper": upper})
        reserve, mark = price, price
    reservation = buy_reservation(quantity, reserve, desk.costs) if side is Side.BUY else 0
    return Priced(price=price if order_type is OrderType.LIMIT else 0, reserve_price=reserve,
                  reservation=reservation, mark_price=mark)
