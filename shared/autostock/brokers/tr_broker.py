"""What the LS and Kiwoom adapters share around their clients: request checks at the door,
"today" in KST from an injectable clock, acknowledgements, lost-order lookup."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection
from typing import Any
from zoneinfo import ZoneInfo

from autostock.brokers.base import Broker, OrderAck, OrderRequest, OrderStatus, OrderType
from autostock.brokers.lost_orders import LostOrders
from autostock.brokers.tr_client import TrClient
from autostock.errors import ValidationError

SEOUL = ZoneInfo("Asia/Seoul")
_SYMBOL = re.compile(r"^[0-9A-Z]{6}$")


def kst_now() -> dt.datetime:
    return dt.datetime.now(SEOUL)


def check_symbol(symbol: str) -> str:
    if not _SYMBOL.match(symbol or ""):
        raise ValidationError("symbol must be a 6-character KRX code", details={"symbol": symbol})
    return symbol


def check_order(request: OrderRequest) -> None:
    """Refuse a malformed request before anything reaches the broker."""
    check_symbol(request.symbol)
    if request.quantity <= 0:
        raise ValidationError("quantity must be positive", details={"quantity": request.quantity})
    if request.order_type == OrderType.LIMIT and request.price <= 0:
        raise ValidationError("a limit order needs a price", details={"price": request.price})


def check_change(quantity: int | None, price: int | None = None) -> None:
    """A modify needs a positive quantity and price; a cancel a positive quantity or None (all)."""
    if (quantity is not None and quantity <= 0) or (price is not None and price <= 0):
        raise ValidationError("a modify or cancel needs a positive quantity (and price)",
                              details={"quantity": quantity, "price": price})


class TrBroker(Broker):
    """Base of the LS and Kiwoom brokers; a subclass sets `client` in its __init__."""

    client: TrClient

    def __init__(self, *, clock: Callable[[], dt.datetime] = kst_now) -> None:
        self._clock = clock
        self._lost = LostOrders()
        self._symbols: dict[str, str] = {}     # order number → symbol, for modify/cancel bodies

    def _today(self) -> dt.date:
        return self._clock().astimezone(SEOUL).date()

    def connect(self) -> None:
        self.client.token()

    def _masked(self) -> str:
        digits = self.client.credentials.account_number.replace("-", "")
        return f"{digits[:3]}****{digits[-2:]}"

    def _remember(self, result: OrderAck, symbol: str, client_order_id: str = "") -> OrderAck:
        self._lost.acked(result.broker_order_id, client_order_id)
        self._symbols[result.broker_order_id] = symbol
        return result

    def _symbol_of(self, broker_order_id: str) -> str:
        return self._symbols.get(broker_order_id) or self.order_status(broker_order_id).symbol

    def _lost_answer(self, request: OrderRequest, details: dict[str, Any]) -> None:
        """Note on an UnknownOutcome what was sent, for whoever records the `unknown` order."""
        details.update(client_order_id=request.client_order_id, symbol=request.symbol, side=request.side.value,
                       quantity=request.quantity, price=request.price)

    def find_order(self, client_order_id: str, sent: OrderRequest | None = None,
                   known: Collection[str] = ()) -> OrderStatus | None:
        return self._lost.find(client_order_id, self.orders_today,
                               order_key=lambda n: int(n) if n.isdigit() else 0, sent=sent, known=known)

    def close(self) -> None:
        self.client.close()
