"""Resolving an order whose answer was lost, for brokers that keep no client order id.

The adapter notes each request it sends under our `client_order_id` and each order number the
broker acknowledged. An order sent without an answer is then the newest of the day's orders
that matches what we sent and that no acknowledgement explains (style rule 5: it is looked
up, never sent again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from autostock.brokers.base import OrderRequest, OrderStatus, OrderType


class LostOrders:
    """What one adapter instance sent and what the broker acknowledged."""

    def __init__(self) -> None:
        self._sent: dict[str, OrderRequest] = {}
        self._acked: set[str] = set()
        self._lock = threading.Lock()

    def sent(self, request: OrderRequest) -> None:
        if request.client_order_id:
            with self._lock:
                self._sent[request.client_order_id] = request

    def acked(self, broker_order_id: str) -> None:
        with self._lock:
            self._acked.add(broker_order_id)

    def find(self, client_order_id: str, orders_today: Callable[[], list[OrderStatus]],
             order_key: Callable[[str], int] = int) -> OrderStatus | None:
        request = self._sent.get(client_order_id)
        if request is None:
            return None
        for status in sorted(orders_today(), key=lambda s: order_key(s.broker_order_id), reverse=True):
            if status.broker_order_id not in self._acked and _same(request, status):
                self.acked(status.broker_order_id)
                return status
        return None


def _same(request: OrderRequest, status: OrderStatus) -> bool:
    return (status.symbol == request.symbol and status.side == request.side
            and status.quantity == request.quantity and status.order_type == request.order_type
            and (request.order_type == OrderType.MARKET or status.price == request.price))
