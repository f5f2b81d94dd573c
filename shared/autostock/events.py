"""NATS subjects and a synchronous publisher for code that runs in threads (handlers, jobs).

Subjects are constants here; `Settings.subject` prepends the per-deployment (or per-test-run)
prefix. nats-py is asyncio-only, so `EventBus` keeps one event loop on a daemon thread and
hands coroutines to it.

`publish` waits until NATS has the message. `publish_soon` is for notices sent after a commit
(orders.<event>, orders.fill): it queues the message and returns, and one background thread
per process hands what gathered to NATS in batches, in order. Core NATS delivers at most once
anyway, so such a notice is never the record (its consumers ask the database or the broker),
and keeping the hand-over off the request path spares each request a NATS round trip and two
thread switches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client

from autostock.config import Settings
from autostock.errors import ServiceUnavailable

TICKS = "ticks"              # ticks.<code>
BARS_1M = "bars.1m"          # bars.1m.<code>
ORDERS = "orders"            # orders.<event>: accepted, filled, partially_filled, cancelled, rejected, ...
ORDER_FILL = "orders.fill"   # a broker fill (paper broker; JSON in brokers/paper/broker.publish_fill)
ALERTS_FIRED = "alerts.fired"

PUBLISH_TIMEOUT = 5.0
BATCH = 256
# After a batch, `publish_soon`'s thread waits this long before taking the next: under load the
# next batch gathers meanwhile, and a request thread that queues an event seldom has a waiting
# thread to wake (a futex call under the GIL: with it, publish_soon took ~9% of a busy
# gateway worker's Python time, without it ~5%). Idle, the thread blocks. Notices are late by
# at most this much.
LINGER = 0.02

log = logging.getLogger("autostock.events")


class EventBus:
    """Publishes JSON events to NATS from synchronous code."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._soon = _Queued(self)

    def _ensure(self) -> tuple[asyncio.AbstractEventLoop, Client]:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="nats-loop", daemon=True).start()
                self._loop = loop
            if self._client is None or self._client.is_closed:
                self._client = self._run(nats.connect(
                    self.settings.nats_url, connect_timeout=2, max_reconnect_attempts=-1,
                    allow_reconnect=True))
            return self._loop, self._client

    def _run(self, coro: Awaitable[Any]) -> Any:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        try:
            return future.result(PUBLISH_TIMEOUT)
        except Exception as e:
            future.cancel()
            raise ServiceUnavailable("event bus unavailable", code="nats_unavailable") from e

    def publish(self, subject: str, payload: dict[str, Any] | bytes) -> None:
        """Publish to `subject` (without the prefix; it is added here)."""
        _, client = self._ensure()
        data = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
        full = self.settings.subject(subject)

        async def _pub() -> None:
            await client.publish(full, data)
            await client.flush(timeout=PUBLISH_TIMEOUT)

        self._run(_pub())

    def publish_soon(self, subject: str, payload: dict[str, Any] | bytes) -> None:
        """Queue a publish to `subject` and return at once (see the module docstring)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
        self._soon.put(self.settings.subject(subject), data)

    def wait_published(self, timeout: float = 5.0) -> bool:
        """Block until everything `publish_soon` queued so far was handed to NATS."""
        return self._soon.wait_idle(timeout)

    def call(self, fn: Callable[[Client], Awaitable[Any]]) -> Any:
        """Run `fn(client)` on the bus's loop (for JetStream or request/reply)."""
        _, client = self._ensure()
        return self._run(fn(client))

    def server_version(self) -> str:
        _, client = self._ensure()
        return str(client._server_info.get("version", "?"))  # noqa: SLF001 - nats-py exposes no getter

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._loop is not None and not self._client.is_closed:
                asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(PUBLISH_TIMEOUT)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._client = None
            self._loop = None


class _Queued:
    """`publish_soon`'s queue, drained by one daemon thread per process."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._pid = 0
        # Counts what was queued and not yet handed over: idle is `_pending == 0`, so a message
        # queued while a batch is being sent is never mistaken for sent.
        self._pending = 0
        self._changed = threading.Condition()

    def put(self, subject: str, data: bytes) -> None:
        with self._changed:
            if self._pid != os.getpid():  # a forked worker needs its own thread (and queue)
                self._pid = os.getpid()
                self._queue, self._pending = queue.Queue(), 0
                threading.Thread(target=self._drain, name="nats-publish-soon", daemon=True).start()
            self._pending += 1
        self._queue.put((subject, data))

    def wait_idle(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._send(batch)
            with self._changed:
                self._pending -= len(batch)
                if self._pending == 0:
                    self._changed.notify_all()
            time.sleep(LINGER)

    def _send(self, batch: list[tuple[str, bytes]]) -> None:
        # No flush: the client writes what it buffered on its own, and waiting for the server's
        # PONG would only hold the next batch back.
        async def publish_all(client: Client) -> None:
            for subject, data in batch:
                await client.publish(subject, data)

        try:
            self.bus.call(publish_all)
        except Exception as e:  # the cause is committed; a lost notice is logged, not raised
            log.warning("events not published", extra={"count": len(batch), "error": type(e).__name__})
