"""Resolving an order whose answer was lost, for brokers that keep no client order id.

The adapter notes each request it sends under our `client_order_id` and each order number the
broker acknowledged. An order sent without an answer is then the newest of the day's orders
that matches what we sent and that no acknowledgement explains (style rule 5: it is looked
up, never sent again). What one process noted is gone in another (market-clock reconciles in
its own process) and after a restart, so the caller passes what the platform persisted: the
request as recorded (`sent`) and the order numbers its other orders already hold (`known`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection

from autostock.brokers.base import OrderRequest, OrderStatus, OrderType


class LostOrders:
    """What one adapter instance sent and what the broker acknowledged."""

    def __init__(self) -> None:
        self._sent: dict[str, OrderRequest] = {}
        self._acked: set[str] = set()
        self._answers: dict[str, str] = {}  # client_order_id → the broker's id, once acknowledged
        self._lock = threading.Lock()

    def sent(self, request: OrderRequest) -> None:
        if request.client_order_id:
            with self._lock:
                self._sent[request.client_order_id] = request

    def acked(self, broker_order_id: str, client_order_id: str = "") -> None:
        with self._lock:
            self._acked.add(broker_order_id)
            if client_order_id:
                self._answers[client_order_id] = broker_order_id

    def find(self, client_order_id: str, orders_today: Callable[[], list[OrderStatus]],
             order_key: Callable[[str], int] = int, *, sent: OrderRequest | None = None,
             known: Collection[str] = ()) -> OrderStatus | None:
        """The day's newest order that matches `sent` (else what this instance sent as
        `client_order_id`) and that neither this instance's acks nor `known` explain."""
        answered = self._answers.get(client_order_id)
        request = sent or self._sent.get(client_order_id)
        if answered is None and request is None:
            return None
        today = orders_today()
        if answered is not None:
            return next((s for s in today if s.broker_order_id == answered), None)
        explained = self._acked | set(known)
        for status in sorted(today, key=lambda s: order_key(s.broker_order_id), reverse=True):
            # A modify's replacement is an order we already had, not a lost new one.
            if status.broker_order_id not in explained and not status.replaces and _same(request, status):
                self.acked(status.broker_order_id, client_order_id)
                return status
        return None


def _same(request: OrderRequest, status: OrderStatus) -> bool:
    return (status.symbol == request.symbol and status.side == request.side
            and status.quantity == request.quantity and status.order_type == request.order_type
            and (request.order_type == OrderType.MARKET or status.price == request.price))
