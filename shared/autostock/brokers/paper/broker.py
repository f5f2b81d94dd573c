"""`PaperBroker`: the platform's own simulated broker, one instance per paper broker account.

Market orders and marketable limit orders fill at once against the latest quote in Redis
(`market.quotes`); other limit orders rest in PostgreSQL until the paper matcher sees a trade
that reaches them. Every fill is written with a unique fill_id before it is announced on NATS
(`orders.fill`), so `order_status`/`orders_today` always tell the truth even when a message is
lost. Order entry places with `place_order_in`, inside its own transaction: a fill made there
is booked by the same commit and not announced. Prices, limits, sessions and costs follow
docs/brokers.md §4 (see `model`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg

from autostock import db, events
from autostock.brokers.base import (AccountInfo, Balance, Broker, DailyBar, Fill, OrderAck, OrderRequest,
                                    OrderState, OrderStatus, OrderType, Position, Quote, Side)
from autostock.brokers.paper import model, store
from autostock.errors import Conflict, NotFound, ValidationError
from autostock.market.costs import CostModel
from autostock.market.quotes import SEOUL, StoredQuote, read_quote
from autostock.resources import Resources


Clock = Callable[[], dt.datetime]


def seoul_now() -> dt.datetime:
    return dt.datetime.now(SEOUL)


def costs_of(account: dict[str, Any], config: model.PaperConfig) -> CostModel:
    """The account's own commission rate (fixed when it was opened) with the config's minimum."""
    return CostModel(commission_ppb=int(account["commission_ppb"]),
                     min_commission=config.costs.min_commission)


def publish_fill(resources: Resources, applied: store.AppliedFill) -> None:
    """Announce a recorded fill on `orders.fill` (after the commit, off the caller's path); a
    lost message is repaired by reconciliation."""
    order, fill = applied.order, applied.fill
    payload = {
        "broker": "paper", "account_id": str(order["account_id"]), "user_id": str(order["user_id"]),
        "broker_order_id": fill.broker_order_id, "client_order_id": order["client_order_id"],
        "fill_id": fill.fill_id, "symbol": fill.symbol, "side": fill.side.value,
        "quantity": fill.quantity, "price": fill.price, "commission": applied.commission, "tax": applied.tax,
        "filled_at": fill.filled_at.isoformat() if fill.filled_at else None,
        "order_state": order["state"], "filled_quantity": int(order["filled_quantity"]),
        "remaining": store.remaining(order),
    }
    resources.events.publish_soon(events.ORDER_FILL, payload)


class PaperBroker(Broker):
    """Simulated fills on the platform's own books; needs no broker credentials."""

    name: ClassVar[str] = "paper"
    capabilities: ClassVar[dict[str, Any]] = {
        "paper": True, "order_types": ("limit", "market"), "partial_fills": True,
        "find_order": True, "daily_bars": False, "modify_reduces_only": True,
    }

    def __init__(self, resources: Resources, account_id: str, user_id: str, *,
                 config: model.PaperConfig | None = None, clock: Clock | None = None,
                 starting_cash: int | None = None) -> None:
        self.resources = resources
        self.account_id = str(account_id)
        self.user_id = str(user_id)
        self.config = config or model.PaperConfig()
        self.clock = clock or seoul_now
        self.starting_cash = resources.settings.paper_starting_cash if starting_cash is None else starting_cash

    @contextmanager
    def _tx(self, *, lock: bool = False) -> Iterator[tuple[Any, dict[str, Any] | None]]:
        """A tenant transaction that first retires this account's day orders past their close.

        Yields the connection and the account row (None before `connect`); `lock` locks the
        row, which every change to the account's orders and cash holds first."""
        with db.tenant(self.resources.pool, self.user_id) as conn:
            yield conn, self._account_today(conn, lock=lock)

    def _account_today(self, conn: psycopg.Connection, *, lock: bool) -> dict[str, Any] | None:
        """The account row after its day orders past their close are retired; with `lock`,
        locked, and NotFound when the account was never opened."""
        today, closed = model.day_state(self.clock())
        account = store.account_today(conn, self.account_id, today, closed, lock=lock)
        return store.opened(account) if lock else account

    def _quote(self, symbol: str) -> StoredQuote:
        quote = read_quote(self.resources.redis, self.resources.settings, symbol)
        if quote is None:
            raise model.reject("no_quote", f"no market price for {symbol} yet; the paper broker fills"
                               " against the latest quote", symbol=symbol)
        return quote

    # ---- account ----

    def connect(self) -> None:
        """Open the paper account with its starting cash on first use (idempotent)."""
        with self._tx() as (conn, _):
            store.ensure_account(conn, self.account_id, self.user_id, self.starting_cash,
                                 self.config.costs.commission_ppb)

    def account_info(self) -> AccountInfo:
        return AccountInfo(broker=self.name, account_number=f"PAPER-{self.account_id[:8]}", paper=True,
                           name="paper trading")

    def balance(self) -> Balance:
        with self._tx() as (conn, account):
            account = store.opened(account)
            reserved = store.reserved_cash(conn, self.account_id, costs_of(account, self.config))
            held = store.holdings(conn, self.account_id)
        cash = int(account["cash"])
        equity = cash + sum(int(h["quantity"]) * self._mark(h) for h in held)
        return Balance(cash=cash, buying_power=cash - reserved, total_equity=equity)

    def _mark(self, holding: dict[str, Any]) -> int:
        quote = read_quote(self.resources.redis, self.resources.settings, holding["symbol"])
        return quote.price if quote else int(holding["book_value"]) // int(holding["quantity"])

    def positions(self) -> list[Position]:
        with self._tx() as (conn, _):
            held = store.holdings(conn, self.account_id)
            offered = {o["symbol"]: 0 for o in held}
            for o in store.open_orders(conn, self.account_id, Side.SELL):
                offered[o["symbol"]] = offered.get(o["symbol"], 0) + store.remaining(o)
        return [Position(symbol=h["symbol"], quantity=int(h["quantity"]),
                         average_price=int(h["book_value"]) // int(h["quantity"]),
                         sellable_quantity=int(h["quantity"]) - offered[h["symbol"]],
                         last_price=self._mark(h)) for h in held]

    # ---- orders ----

    def place_order(self, request: OrderRequest) -> OrderAck:
        ready = self._ready(request)
        with self._tx(lock=True) as (conn, account):
            ack, applied = self._place(conn, account, request, ready)
        if applied is not None:
            publish_fill(self.resources, applied)
        return ack

    def place_order_in(self, conn: psycopg.Connection, request: OrderRequest) -> OrderAck:
        """`place_order` inside the caller's transaction (the caller's tenant is this account's
        user): the order is placed, and filled when marketable, in the same commit as the
        caller's own record of it. The ack's status carries the fill, which the caller applies
        to its books in that commit, so nothing is announced on `orders.fill` (whose one
        listener would find it applied). A refusal raises as from `place_order`, after this
        call has written: the caller must roll its transaction back (no savepoint is taken,
        which would cost every order a round trip and a subtransaction for the rare refusal)."""
        ready = self._ready(request)
        account = self._account_today(conn, lock=True)
        ack, _ = self._place(conn, account, request, ready)
        return ack

    def _ready(self, request: OrderRequest) -> _Ready:
        """The checks that need no lock, and the price a marketable order fills at."""
        order_type, side = OrderType(request.order_type), Side(request.side)
        model.check_request(request.quantity, order_type, request.price)
        _check_symbol(request.symbol)
        now = self.clock()
        if self.config.check_session:
            model.check_session(now)
        quote = self._quote(request.symbol)
        on = now.astimezone(SEOUL).date()
        if self.config.check_session:
            model.check_fresh(quote, on)
        if order_type is OrderType.LIMIT:
            model.check_limit_price(request.price, quote, on)
        price = model.execution_price(side, quote, self.config.slippage_ticks, on)
        fill_now = order_type is OrderType.MARKET or model.is_marketable(side, request.price, price)
        return _Ready(side, order_type, now, on, quote, price, fill_now)

    def _place(self, conn: psycopg.Connection, account: dict[str, Any], request: OrderRequest,
               ready: _Ready) -> tuple[OrderAck, store.AppliedFill | None]:
        """Record the order (filled, when marketable) under the account lock, then check the
        means; a refusal raises and the caller's rollback takes the order back out."""
        costs = costs_of(account, self.config)
        fill = None
        if ready.fill_now:
            value = request.quantity * ready.price
            commission, tax = costs.costs(value, side=ready.side.value, market=ready.quote.market, on=ready.on,
                                          product=ready.quote.product)
            fill = store.ImmediateFill(request.quantity, ready.price, commission, tax, ready.now)
        placed = store.place(conn, {
            "account_id": self.account_id, "user_id": self.user_id,
            "client_order_id": request.client_order_id, "symbol": request.symbol,
            "market": ready.quote.market, "product": ready.quote.product, "side": ready.side.value,
            "order_type": ready.order_type.value, "quantity": request.quantity,
            "price": request.price if ready.order_type is OrderType.LIMIT else 0,
            "state": OrderState.ACCEPTED.value, "trade_date": ready.on, "created_at": ready.now}, fill)
        if placed.order is None:  # the same order sent again: answer as the first time
            return OrderAck(store.broker_order_id(placed.existing["id"]), placed.existing["created_at"]), None
        _check_means(account, costs, request, ready.price if ready.fill_now else request.price, placed)
        order = placed.order
        if fill is None:
            return OrderAck(store.broker_order_id(order["id"]), ready.now, status=store.to_status(order, [])), None
        if placed.fill_id is None:  # the write guard is looser than the means check just passed
            raise RuntimeError("the paper fill's guard refused an order its means check passed")
        made = Fill(broker_order_id=store.broker_order_id(order["id"]), fill_id=placed.fill_id, symbol=request.symbol,
                    side=ready.side, quantity=fill.quantity, price=fill.price, filled_at=fill.at)
        # A new order's status is known here (its only fill is the one just made): the caller
        # need not ask for it in another transaction.
        return (OrderAck(store.broker_order_id(order["id"]), ready.now, status=store.to_status(order, [made])),
                store.AppliedFill(made, fill.commission, fill.tax, order))

    def modify_order(self, broker_order_id: str, quantity: int, price: int) -> OrderAck:
        """Reprice an open limit order and keep `quantity` shares of it working (≤ what is left)."""
        order_id = store.parse_order_id(broker_order_id)
        model.check_request(quantity, OrderType.LIMIT, price)
        now = self.clock()
        if self.config.check_session:
            model.check_session(now)
        with self._tx(lock=True) as (conn, account):
            order = self._open_order(conn, order_id)
            if order["order_type"] != OrderType.LIMIT.value:
                raise Conflict("only limit orders can be modified", code="order_not_modifiable")
            left = store.remaining(order)
            if quantity > left:
                raise model.reject("modify_quantity", f"only {left} shares are left to modify", remaining=left)
            quote = self._quote(order["symbol"])
            on = now.astimezone(SEOUL).date()
            if self.config.check_session:  # as for a new order: no fill at a price from another day
                model.check_fresh(quote, on)
            model.check_limit_price(price, quote, on)
            costs = costs_of(account, self.config)
            order = store.update_order(conn, order_id, price=price,
                                       cancelled_quantity=order["cancelled_quantity"] + left - quantity)
            side = Side(order["side"])
            if side is Side.BUY:
                power = int(account["cash"]) - store.reserved_cash(conn, self.account_id, costs)
                if power < 0:
                    raise model.reject("insufficient_buying_power",
                                       "the new price needs more cash than is free", short_by=-power)
            fill_price = model.execution_price(side, quote, self.config.slippage_ticks, on)
            applied = None
            if model.is_marketable(side, price, fill_price):
                fill_id = f"{broker_order_id}-m{now.timestamp():.6f}"
                applied = store.apply_fill(conn, order, fill_id, quantity, fill_price, now, costs)
        if applied is not None:
            publish_fill(self.resources, applied)
        return OrderAck(broker_order_id, now)

    def cancel_order(self, broker_order_id: str, quantity: int | None = None) -> OrderAck:
        order_id = store.parse_order_id(broker_order_id)
        with self._tx(lock=True) as (conn, _):
            order = self._open_order(conn, order_id)
            left = store.remaining(order)
            count = left if quantity is None else quantity
            if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= left:
                raise ValidationError(f"cancel quantity must be 1..{left}", code="invalid_quantity")
            state = OrderState.CANCELLED if count == left else OrderState(order["state"])
            store.update_order(conn, order_id, cancelled_quantity=order["cancelled_quantity"] + count,
                               state=state.value)
        return OrderAck(broker_order_id, self.clock())

    def _open_order(self, conn: Any, order_id: int) -> dict[str, Any]:
        order = store.get_order(conn, order_id, account_id=self.account_id, lock=True)
        if order["state"] not in store.OPEN_STATES:
            raise Conflict(f"order {store.broker_order_id(order_id)} is {order['state']}",
                           code="order_not_open", details={"state": order["state"]})
        return order

    def order_status(self, broker_order_id: str) -> OrderStatus:
        order_id = store.parse_order_id(broker_order_id)
        with self._tx() as (conn, _):
            order = store.get_order(conn, order_id, account_id=self.account_id)
            return store.statuses(conn, [order])[0]

    def orders_today(self) -> list[OrderStatus]:
        day = self.clock().astimezone(SEOUL).date()
        with self._tx() as (conn, _):
            return store.statuses(conn, store.orders_of_day(conn, self.account_id, day))

    def find_order(self, client_order_id: str, sent: OrderRequest | None = None,
                   known: Collection[str] = ()) -> OrderStatus | None:
        """By the client order id the paper books keep (`sent` and `known` are not needed)."""
        if not client_order_id:
            return None
        with self._tx() as (conn, _):
            order = store.find_by_client_id(conn, self.account_id, client_order_id)
            return None if order is None else store.statuses(conn, [order])[0]

    # ---- market data ----

    def quote(self, symbol: str) -> Quote:
        _check_symbol(symbol)
        quote = read_quote(self.resources.redis, self.resources.settings, symbol)
        if quote is None:
            raise NotFound(f"no quote for {symbol}", code="no_quote")
        return quote.to_quote()

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> list[DailyBar]:
        """Paper has no history of its own; the market package's bars answer chart requests."""
        _check_symbol(symbol)
        return []


@dataclass(frozen=True)
class _Ready:
    """An order request that passed the checks needing no lock, with its fill price."""

    side: Side
    order_type: OrderType
    now: dt.datetime
    on: dt.date
    quote: StoredQuote
    price: int            # what a marketable order fills at (the quote, with slippage)
    fill_now: bool


def _check_means(account: dict[str, Any], costs: CostModel, request: OrderRequest, price: int,
                 means: store.Placed) -> None:
    if Side(request.side) is Side.BUY:
        power = int(account["cash"]) - store.reservation(means.open_buy_values, costs)
        need = model.buy_cost(request.quantity, price, costs)
        if need > power:
            raise model.reject("insufficient_buying_power",
                               f"the order needs {need:,} KRW and {power:,} KRW can be spent",
                               needed=need, buying_power=power)
        return
    if request.quantity > means.sellable:
        raise model.reject("insufficient_holdings",
                           f"{request.quantity} shares of {request.symbol} to sell, {means.sellable} sellable",
                           sellable=means.sellable)


def _check_symbol(symbol: str) -> None:
    if not isinstance(symbol, str) or not (1 <= len(symbol) <= 12) or not symbol.isalnum():
        raise ValidationError(f"symbol must be a short stock code such as 005930, was {symbol!r}",
                              code="invalid_symbol", details={"field": "symbol"})
