"""The paper fill model: pure functions, no I/O, so the backtest can price fills the same way.

Rules (docs/brokers.md §4):
- prices are on the KRX tick grid of the symbol's market (rules.tick_size), else `invalid_tick`;
- limit prices lie inside the daily limit, previous close ±30% (rules.price_limits), else
  `price_limit`;
- orders are taken only while the regular session is open (market.calendar, XKRX), else
  `market_closed`;
- lot size is 1 share (rules.LOT_SIZE).

Execution prices:
- a market order (and a marketable limit order) takes the other side of the book: a buy pays
  the ask, a sell gets the bid. Without a book it pays the last price `slippage_ticks` ticks
  worse. The price is kept inside the daily limits.
- a limit order is marketable when that execution price is at or better than its limit; it then
  fills at the execution price (price improvement, as on the exchange, where the resting side
  sets the price).
- a resting limit order fills when a trade prints at or through its limit (buy: tick ≤ limit,
  sell: tick ≥ limit), AT ITS LIMIT PRICE. On KRX the resting order's price is the trade price:
  a trade printing through our limit means our order, already in the book, would have been hit
  first at its own price. This is also the conservative choice (never better than the limit).
  Fills are capped by the tick's traded volume, shared among crossing orders by price, then
  time priority.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from autostock.brokers.base import OrderType, Side
from autostock.errors import BrokerRejected, ValidationError
from autostock.market import rules
from autostock.market.costs import CostModel
from autostock.market.quotes import SEOUL, StoredQuote


@dataclass(frozen=True)
class PaperConfig:
    """How the paper broker fills; one per account (defaults suit every new user)."""

    slippage_ticks: int = 1          # market orders without a book: last ± this many ticks
    partial_fills: bool = True       # resting fills capped by each tick's traded volume
    check_session: bool = True       # reject orders outside the regular session
    costs: CostModel = CostModel()


def reject(code: str, message: str, **details: object) -> BrokerRejected:
    return BrokerRejected(message, code=code, details={"broker": "paper", **details})


def check_request(quantity: int, order_type: OrderType, price: int) -> None:
    """Shape checks that need no market data (bad input → ValidationError)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError(f"quantity must be a positive whole number of shares, was {quantity!r}",
                              code="invalid_quantity", details={"field": "quantity"})
    if quantity % rules.LOT_SIZE:
        raise ValidationError(f"quantity must be a multiple of {rules.LOT_SIZE}", code="invalid_quantity")
    if isinstance(price, bool) or not isinstance(price, int):
        raise ValidationError(f"price must be whole KRW, was {price!r}", code="invalid_price",
                              details={"field": "price"})
    if order_type is OrderType.LIMIT and price <= 0:
        raise ValidationError("a limit order needs a price above 0", code="invalid_price",
                              details={"field": "price"})


def check_session(now: dt.datetime) -> None:
    from autostock.market import calendar
    if not calendar.is_open(now):
        local = now.astimezone(SEOUL)
        raise reject("market_closed", f"KRX is not in its regular session at {local:%Y-%m-%d %H:%M} KST",
                     at=local.isoformat())


def check_fresh(quote: StoredQuote, today: dt.date) -> None:
    """The quote is from today's session: yesterday's prices (a stopped collector) would fill
    at a stale price and check today's limits against the wrong previous close."""
    if quote.at is not None and quote.at.astimezone(SEOUL).date() != today:
        raise reject("stale_quote", f"the latest price of {quote.code} is from {quote.at:%Y-%m-%d}, not today",
                     quote_at=quote.at.isoformat())


def day_state(now: dt.datetime) -> tuple[dt.date, bool]:
    """(today in Seoul, whether today's regular session is over or there is none).

    KRX orders are day orders: what is still open at the close expires.
    """
    from autostock.market import calendar
    today = now.astimezone(SEOUL).date()
    bounds = calendar.session_bounds(today)
    return today, bounds is None or now >= bounds[1]


def check_limit_price(price: int, quote: StoredQuote, on: dt.date) -> None:
    """`price` is on the tick grid and inside the daily limits of `quote`'s symbol."""
    if not rules.is_on_tick(price, quote.market, on=on, product=quote.product):
        tick = rules.tick_size(price, quote.market, on=on, product=quote.product)
        raise reject("invalid_tick", f"price {price} is not on the {tick} KRW tick grid",
                     tick=tick, price=price)
    lower, upper = quote.limits()
    if upper and not lower <= price <= upper:
        raise reject("price_limit", f"price {price} is outside today's limits {lower}..{upper}",
                     lower_limit=lower, upper_limit=upper, price=price)


def execution_price(side: Side, quote: StoredQuote, slippage_ticks: int, on: dt.date) -> int:
    """What an order taking liquidity now pays (buy) or gets (sell), inside the daily limits."""
    if side is Side.BUY and quote.ask > 0:
        price = quote.ask
    elif side is Side.SELL and quote.bid > 0:
        price = quote.bid
    else:
        price = _ticks_away(quote, slippage_ticks if side is Side.BUY else -slippage_ticks, on)
    lower, upper = quote.limits()
    if upper:
        price = min(max(price, lower), upper)
    return price


def _ticks_away(quote: StoredQuote, ticks: int, on: dt.date) -> int:
    price = quote.price
    for _ in range(abs(ticks)):
        if ticks > 0:
            price += rules.tick_size(price, quote.market, on=on, product=quote.product)
        else:
            # One tick down uses the band below when `price` sits on a band's lower bound.
            step = rules.tick_size(price - 1, quote.market, on=on, product=quote.product)
            price = max(price - step, 1)
    return price


def is_marketable(side: Side, limit: int, price: int) -> bool:
    """A limit order at `limit` accepts execution at `price`."""
    return price <= limit if side is Side.BUY else price >= limit


def crosses(side: Side, limit: int, tick_price: int) -> bool:
    """A trade at `tick_price` reaches a resting order at `limit` (touch counts)."""
    return is_marketable(side, limit, tick_price)


@dataclass(frozen=True)
class Resting:
    """A resting limit order as the matcher sees it."""

    order_id: int
    side: Side
    price: int
    remaining: int


def allocate(orders: list[Resting], tick_price: int, tick_volume: int,
             partial_fills: bool) -> list[tuple[Resting, int]]:
    """(order, quantity) filled by one trade: crossing orders in price, then time priority,
    each side sharing the traded volume when `partial_fills`, else filled whole."""
    out: list[tuple[Resting, int]] = []
    for side in (Side.BUY, Side.SELL):
        crossing = [o for o in orders if o.side is side and crosses(side, o.price, tick_price)]
        # Best price first (highest bid, lowest offer), then the oldest order (lowest id).
        crossing.sort(key=lambda o: (-o.price if side is Side.BUY else o.price, o.order_id))
        left = tick_volume
        for order in crossing:
            quantity = min(order.remaining, left) if partial_fills else order.remaining
            if quantity <= 0:
                break
            out.append((order, quantity))
            left -= quantity if partial_fills else 0
    return out


def buy_cost(quantity: int, price: int, costs: CostModel) -> int:
    """Cash a buy of `quantity` at `price` needs, commission included."""
    value = quantity * price
    return value + costs.commission(value)
