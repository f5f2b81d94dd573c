"""Order events on NATS, published off the request path.

The order is committed before its events are published, and core NATS delivers at most once,
so a notice is a notification, never the record (consumers that must not miss a change ask the
database or the broker). Publishing from a background thread, many events per flush, keeps the
NATS round trips out of an order's latency.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from typing import Any

from autostock.events import ORDERS
from autostock.resources import Resources

log = logging.getLogger("autostock.orders.notices")

BATCH = 256


class Notices:
    """A queue of (subject, payload) drained by one daemon thread per process."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._pid = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker needs its own thread
                self._pid = os.getpid()
                threading.Thread(target=self._drain, name="order-notices", daemon=True).start()

    def publish(self, event: str, payload: dict[str, Any]) -> None:
        self._ensure_thread()
        self._idle.clear()
        subject = self.resources.settings.subject(f"{ORDERS}.{event}")
        self._queue.put((subject, json.dumps(payload, default=str).encode()))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until everything queued so far was handed to NATS (tests, shutdown)."""
        return self._idle.wait(timeout)

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._send([item for item in batch if item is not None])
            if self._queue.empty():
                self._idle.set()

    def _send(self, batch: list[tuple[str, bytes]]) -> None:
        async def publish_all(client: Any) -> None:
            for subject, data in batch:
                await client.publish(subject, data)
            await client.flush(timeout=5)

        try:
            self.resources.events.call(publish_all)
        except Exception as e:  # the orders are committed; a lost notice is logged, not raised
            log.warning("order events not published", extra={"count": len(batch), "error": type(e).__name__})
