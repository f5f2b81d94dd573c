"""NATS subjects and a synchronous publisher for code that runs in threads (handlers, jobs).

Subjects are constants here; `Settings.subject` prepends the per-deployment (or per-test-run)
prefix. nats-py is asyncio-only, so `EventBus` keeps one event loop on a daemon thread and
hands coroutines to it.
"""

from __future__ import annotations

import asyncio
import json
import threading
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


class EventBus:
    """Publishes JSON events to NATS from synchronous code."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._lock = threading.Lock()

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
