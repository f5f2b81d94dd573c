"""An in-memory exchange every broker simulator shares: accounts, instruments, an order book
with price-time priority and partial fills, and the day's orders and fills.

Protocol servers (sim/kis.py, sim/ls.py, ...) translate their wire format to these calls and
map `SimReject.reason` to their broker's error codes. Synthetic liquidity comes from a market
maker that quotes `depth` shares one tick either side of the last price (`Exchange.requote`)
and from tape prints (`Exchange.trade`), which trade against resting orders they cross. All
money is integer KRW; deterministic given the seed, the clock and the call order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from autostock.brokers.sim.feed import SEOUL, Clock, PriceFeed
from autostock.brokers.sim.records import (CANCELLED, FILLED, MAKER, OPEN, REJECTED, Account, Holding,
                                           Instrument, SimFill, SimOrder, SimReject)
from autostock.market import rules
from autostock.market.costs import CostModel

__all__ = ["CANCELLED", "FILLED", "MAKER", "OPEN", "REJECTED", "Account", "Exchange", "Holding",
           "Instrument", "SimFill", "SimOrder", "SimReject"]

Listener = Callable[[str, dict[str, Any]], None]


class Exchange:
    """The shared matching core. Thread-safe: protocol servers call it from handler threads."""

    def __init__(self, *, clock: Clock | None = None, seed: int = 0, enforce_session: bool = True,
                 cost_model: CostModel | None = None) -> None:
        self.clock = clock or Clock()
        self.seed = seed
        self.enforce_session = enforce_session
        self.costs = cost_model or CostModel()
        self.feed = PriceFeed()
        self.instruments: dict[str, Instrument] = {}
        self.daily: dict[str, list[Any]] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, SimOrder] = {}
        self._book: dict[str, list[SimOrder]] = {}
        self._ids: Iterator[int] = itertools.count(1)
        self._fill_ids = itertools.count(1)
        self._listeners: list[Listener] = []
        self.lock = threading.RLock()

    # ---- set-up -------------------------------------------------------------------------
    def add_instrument(self, symbol: str, prev_close: int, *, name: str = "", market: str = "KOSPI",
                       last: int | None = None, depth: int = 100) -> Instrument:
        with self.lock:
            inst = Instrument(symbol, name or symbol, market, prev_close, last or prev_close, depth=depth)
            self.instruments[symbol] = inst
            self._book[symbol] = []
            self.requote(symbol)
            return inst

    def open_account(self, account_id: str, cash: int) -> Account:
        with self.lock:
            acct = Account(account_id, cash)
            self.accounts[account_id] = acct
            return acct

    def give_shares(self, account_id: str, symbol: str, quantity: int, price: int) -> None:
        """Seed a holding (bought before today)."""
        with self.lock:
            h = self.accounts[account_id].holdings.setdefault(symbol, Holding())
            h.quantity += quantity
            h.cost += quantity * price

    def listen(self, listener: Listener) -> None:
        """`listener(event, data)` for "order", "fill", "trade" and "quote" events."""
        self._listeners.append(listener)

    def _emit(self, event: str, **data: Any) -> None:
        for listener in list(self._listeners):
            listener(event, data)

    # ---- queries ------------------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise SimReject("unknown_symbol", f"unknown symbol {symbol}")
        return inst

    def account(self, account_id: str) -> Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            raise SimReject("unknown_account", "unknown account")
        return acct

    def best(self, symbol: str, side: str) -> tuple[int, int]:
        """(price, total quantity) at the best level of `side` ("buy" bids / "sell" asks)."""
        with self.lock:
            levels = [o for o in self._book[symbol] if o.side == side and o.price]
            if not levels:
                return 0, 0
            px = max(o.price for o in levels) if side == "buy" else min(o.price for o in levels)
            return px, sum(o.remaining for o in levels if o.price == px)

    def levels(self, symbol: str, side: str, count: int = 10) -> list[tuple[int, int]]:
        """The best `count` price levels of `side` as (price, quantity), best first."""
        with self.lock:
            sizes: dict[int, int] = {}
            for o in self._book[symbol]:
                if o.side == side and o.price and o.remaining:
                    sizes[o.price] = sizes.get(o.price, 0) + o.remaining
            return sorted(sizes.items(), reverse=side == "buy")[:count]

    def day_orders(self, account_id: str) -> list[SimOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.account_id == account_id]

    def next_order_id(self) -> int:
        """The number the next order will get (without taking it). Real brokers start their
        numbering again each morning, so a test can give an earlier day's order this number."""
        with self.lock:
            taken = next(self._ids)
            self._ids = itertools.chain([taken], self._ids)
            return taken

    def day_fills(self, account_id: str) -> list[SimFill]:
        return [f for o in self.day_orders(account_id) for f in o.fills]

    def session_open(self) -> bool:
        if not self.enforce_session:
            return True
        now = self.clock.now().astimezone(SEOUL)
        return now.weekday() < 5 and dt.time(9, 0) <= now.time() < dt.time(15, 30)

    def session_phase(self) -> str:
        """"before", "open" or "after" the regular session (KST)."""
        if self.session_open():
            return "open"
        return "before" if self.clock.now().astimezone(SEOUL).time() < dt.time(9, 0) else "after"

    # ---- orders -------------------------------------------------------------------------
    def submit(self, account_id: str, symbol: str, side: str, quantity: int, order_type: str,
               price: int = 0, *, client_id: str = "", meta: dict[str, Any] | None = None) -> SimOrder:
        """Validate, book and match an order; raises SimReject and changes nothing on refusal."""
        with self.lock:
            acct = self.account(account_id) if account_id != MAKER else None
            inst = self.instrument(symbol)
            self._validate(inst, side, quantity, order_type, price)
            lower, upper = inst.limits
            reserve_px = price if order_type == "limit" else upper  # KIS reserves market buys at the limit
            held = self._reserve(acct, symbol, side, quantity, reserve_px) if acct is not None else 0
            order = SimOrder(next(self._ids), account_id, symbol, side, order_type, quantity,
                             price if order_type == "limit" else 0, self.clock.now(),
                             client_id=client_id, reserve_price=reserve_px if side == "buy" else 0,
                             reserved_cash=held, meta=dict(meta or {}))
            self.orders[order.order_id] = order
            self._emit("order", order=order, action="accepted")
            self._match(order)
            if order.remaining and order.status == OPEN:
                self._book[symbol].append(order)
            return order

    def _validate(self, inst: Instrument, side: str, quantity: int, order_type: str, price: int) -> None:
        if side not in ("buy", "sell") or order_type not in ("limit", "market"):
            raise SimReject("quantity", "bad side or order type")
        if quantity <= 0 or quantity % rules.LOT_SIZE:
            raise SimReject("quantity", "quantity must be a positive whole lot")
        if not self.session_open():
            raise SimReject("session", "market closed")
        if order_type == "limit":
            lower, upper = inst.limits
            if not rules.is_on_tick(price, inst.market):
                raise SimReject("tick", f"price {price} is off the tick grid")
            if not lower <= price <= upper:
                raise SimReject("price_band", f"price {price} outside {lower}..{upper}")

    def _reserve(self, acct: Account, symbol: str, side: str, quantity: int, price: int) -> int:
        if side == "buy":
            need = quantity * price + self.costs.commission(quantity * price)
            if need > acct.buying_power:
                raise SimReject("funds", "order exceeds buying power")
            acct.reserved += need
            return need
        else:
            h = acct.holdings.get(symbol)
            if h is None or h.quantity - h.reserved < quantity:
                raise SimReject("holdings", "not enough sellable shares")
            h.reserved += quantity
            return 0

    def _release(self, order: SimOrder, quantity: int) -> None:
        acct = self.accounts.get(order.account_id)
        if acct is None or quantity <= 0:
            return
        if order.side == "buy":
            # call after filled/cancelled moved; a finished order frees all it still holds
            value = quantity * order.reserve_price
            amount = order.reserved_cash if not order.remaining else min(
                order.reserved_cash, value + self.costs.commission(value))
            order.reserved_cash -= amount
            acct.reserved -= amount
        else:
            acct.holdings[order.symbol].reserved -= quantity

    def _match(self, incoming: SimOrder) -> None:
        book = self._book[incoming.symbol]
        opposite = "sell" if incoming.side == "buy" else "buy"
        while incoming.remaining:
            resting = [o for o in book if o.side == opposite and o.remaining
                       and o.account_id != incoming.account_id and (o.price or incoming.price)]
            if not resting:
                return
            market = [o for o in resting if not o.price]
            if market:  # a resting market order takes the incoming limit's price, first in line
                head = min(market, key=lambda o: o.order_id)
                self._execute(incoming, head, min(incoming.remaining, head.remaining), incoming.price)
                if not head.remaining:
                    book.remove(head)
                continue
            best_px = min(o.price for o in resting) if opposite == "sell" else max(o.price for o in resting)
            if incoming.order_type == "limit" and (
                    (incoming.side == "buy" and best_px > incoming.price)
                    or (incoming.side == "sell" and best_px < incoming.price)):
                return
            head = min((o for o in resting if o.price == best_px), key=lambda o: o.order_id)
            self._execute(incoming, head, min(incoming.remaining, head.remaining), best_px)
            if not head.remaining:
                book.remove(head)

    def _execute(self, a: SimOrder, b: SimOrder, quantity: int, price: int) -> None:
        inst = self.instruments[a.symbol]
        for order in (a, b):
            fill = SimFill(next(self._fill_ids), order.order_id, order.account_id, order.symbol,
                           order.side, quantity, price, self.clock.now())
            order.filled += quantity
            order.fill_value += quantity * price
            order.fills.append(fill)
            if not order.remaining:
                order.status = FILLED
            self._settle(order, fill)
            if order.account_id != MAKER:
                self._emit("fill", order=order, fill=fill)
        self._print(inst, price, quantity, a.side)

    def _print(self, inst: Instrument, price: int, quantity: int, side: str) -> None:
        """A trade on the tape: last, open/high/low and volume move; listeners hear of it."""
        inst.last = price
        inst.open = inst.open or price
        inst.high = max(inst.high, price)
        inst.low = min(inst.low, price) if inst.low else price
        inst.volume += quantity
        inst.value += quantity * price
        self._emit("trade", symbol=inst.symbol, price=price, quantity=quantity, side=side, at=self.clock.now())

    def _settle(self, order: SimOrder, fill: SimFill) -> None:
        acct = self.accounts.get(order.account_id)
        if acct is None:
            return
        value = fill.quantity * fill.price
        h = acct.holdings.setdefault(order.symbol, Holding())
        if order.side == "buy":
            self._release(order, fill.quantity)
            fee = self.costs.commission(value)
            acct.cash -= value + fee
            acct.bought_today += value
            h.quantity += fill.quantity
            h.cost += value
            h.bought_today += fill.quantity
        else:
            fee, tax = self.costs.costs(value, side="sell", market=self.instruments[order.symbol].market,
                                        on=fill.at.date())
            fee += tax
            h.cost -= h.average_price * fill.quantity if h.quantity > fill.quantity else h.cost
            h.quantity -= fill.quantity
            h.reserved -= fill.quantity
            h.sold_today += fill.quantity
            acct.cash += value - fee
            acct.sold_today += value
        acct.costs_today += fee

    def cancel(self, account_id: str, order_id: int, quantity: int | None = None) -> SimOrder:
        """Cancel `quantity` (None: all) of the order's remainder; returns the cancel record."""
        with self.lock:
            order = self._own_open(account_id, order_id)
            qty = order.remaining if quantity is None else quantity
            if qty <= 0 or qty > order.remaining:
                raise SimReject("quantity", f"can cancel at most {order.remaining}")
            order.cancelled += qty
            self._release(order, qty)
            if not order.remaining:
                order.status = CANCELLED if not order.filled else FILLED
                self._book[order.symbol].remove(order)
            record = SimOrder(next(self._ids), account_id, order.symbol, order.side, order.order_type, qty,
                              order.price, self.clock.now(), kind="cancel", original_id=order.order_id,
                              status=CANCELLED, cancelled=qty, meta=dict(order.meta))
            self.orders[record.order_id] = record
            self._emit("order", order=record, action="cancelled")
            return record

    def modify(self, account_id: str, order_id: int, quantity: int, price: int) -> SimOrder:
        """Replace `quantity` of the remainder at a new price: a new order pointing at the old."""
        with self.lock:
            order = self._own_open(account_id, order_id)
            if quantity <= 0 or quantity > order.remaining:
                raise SimReject("quantity", f"can modify at most {order.remaining}")
            inst = self.instruments[order.symbol]
            self._validate(inst, order.side, quantity, "limit", price)
            order.cancelled += quantity
            self._release(order, quantity)
            if not order.remaining:
                order.status = CANCELLED if not order.filled else FILLED
                self._book[order.symbol].remove(order)
            try:
                new = self.submit(account_id, order.symbol, order.side, quantity, "limit", price,
                                  client_id=order.client_id, meta=order.meta)
            except SimReject:
                raise  # funds changed in between; the old part stays cancelled as the broker would
            new.kind, new.original_id = "modify", order.order_id
            return new

    def _own_open(self, account_id: str, order_id: int) -> SimOrder:
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id or order.kind == "cancel":
            raise SimReject("not_found", "no such order")
        if order.status != OPEN or not order.remaining:
            raise SimReject("not_open", "order has nothing left to change")
        return order

    # ---- market -------------------------------------------------------------------------
    def requote(self, symbol: str, depth: int | None = None) -> None:
        """Replace the maker's quotes: `depth` shares one tick below and above the last price."""
        with self.lock:
            inst = self.instrument(symbol)
            lower, upper = inst.limits
            bid = max(lower, inst.last - rules.tick_size(inst.last, inst.market))
            ask = min(upper, rules.round_to_tick(inst.last + 1, inst.market, up=True))
            self._quote_maker(inst, bid, ask, depth)

    def set_market(self, symbol: str, price: int, bid: int, ask: int, *, depth: int | None = None) -> None:
        """Start the day over for `symbol`: previous close and last = `price`, the maker quoting
        `bid` and `ask` (accounts' resting orders stay)."""
        with self.lock:
            inst = self.instrument(symbol)
            inst.prev_close = inst.last = price
            inst.open = inst.high = inst.low = inst.volume = inst.value = 0
            self._quote_maker(inst, bid, ask, depth)

    def _quote_maker(self, inst: Instrument, bid: int, ask: int, depth: int | None) -> None:
        if depth is not None:
            inst.depth = depth
        book = self._book[inst.symbol]
        for o in [o for o in book if o.account_id == MAKER]:
            o.status = CANCELLED
            book.remove(o)
        for side, px in (("buy", bid), ("sell", ask)):
            if px and inst.depth > 0:
                self._place_maker(inst.symbol, side, inst.depth, px)
        self._emit("quote", symbol=inst.symbol)

    def _place_maker(self, symbol: str, side: str, quantity: int, price: int) -> None:
        order = SimOrder(next(self._ids), MAKER, symbol, side, "limit", quantity, price, self.clock.now())
        self._match(order)
        if order.remaining:
            self._book[symbol].append(order)

    def trade(self, symbol: str, price: int, quantity: int, *, requote: bool = True) -> int:
        """A print on the tape at `price`: trades up to `quantity` against resting account orders
        it crosses (buys at or above, sells at or below), at their prices; the print itself
        then moves the last price. Returns the quantity filled against accounts."""
        with self.lock:
            inst = self.instrument(symbol)
            filled = 0
            for side in ("buy", "sell"):
                crossing = "sell" if side == "buy" else "buy"
                taker = SimOrder(next(self._ids), MAKER, symbol, crossing, "limit", quantity - filled,
                                 price, self.clock.now())
                self._book[symbol] = [o for o in self._book[symbol] if o.account_id != MAKER]
                self._match(taker)
                filled += taker.filled
            if not filled:
                self._print(inst, price, quantity, "buy")
            if requote:
                self.requote(symbol)
            return filled

    def replay(self, symbol: str, count: int = 1) -> int:
        """Apply the next `count` prints of the loaded feed; returns how many were applied."""
        applied = 0
        for _ in range(count):
            p = self.feed.next(symbol)
            if p is None:
                break
            self.trade(symbol, p.price, p.quantity)
            applied += 1
        return applied
