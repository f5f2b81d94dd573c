"""The cron and NATS connectors: what OpenFaaS's cron-connector and nats-connector do, plus
the proof that the call is ours.

Cron: `topic: cron-function` + `schedule` → `POST /function/<name>` with an empty body and
headers `X-Topic: cron-function`, `X-Connector: cron-connector`. Schedules are Asia/Seoul time.
NATS: each subject of `topic` (with the deployment's `nats_prefix` in front) → `POST
/function/<name>` with the raw message as the body, `X-Topic: <subject without prefix>` and
`X-Connector: connector-sdk`. At most once, like the real connector.
Every call also carries INTERNAL_TOKEN in `X-Autostock-Internal` (contract.require_internal),
which the stock connectors cannot send: on k3s this module runs as the connectors Deployment
(`autostock connectors`), in place of theirs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import nats
import requests
from croniter import croniter

from autostock.config import Secret, Settings
from autostock.contract import INTERNAL_HEADER
from autostock.errors import ConfigError
from autostock.runtime.stack import CRON_TOPIC, Stack

log = logging.getLogger("autostock.connectors")

SEOUL = ZoneInfo("Asia/Seoul")
INVOKE_TIMEOUT = 60

Invoke = Callable[[str, bytes, dict[str, str]], int]


class HttpInvoker:
    """Calls `/function/<name>` on the gateway as an internal call; returns the status (0 when
    unreachable). Only the topic and the status are logged, never the headers."""

    def __init__(self, gateway_url: str, token: Secret) -> None:
        if not token:
            raise ConfigError("INTERNAL_TOKEN is not set: the functions would refuse every delivery "
                              "(`autostock init-env` writes one; on k3s, the autostock-internal-token secret)")
        self.gateway_url = gateway_url.rstrip("/")
        self.token = token

    def __call__(self, name: str, body: bytes, headers: dict[str, str]) -> int:
        try:
            reply = requests.post(f"{self.gateway_url}/function/{name}", data=body,
                                  headers={**headers, INTERNAL_HEADER: self.token.reveal()}, timeout=INVOKE_TIMEOUT)
        except requests.RequestException as e:
            log.warning("connector call failed", extra={"function": name, "error": type(e).__name__})
            return 0
        log.info("connector call", extra={"function": name, "topic": headers.get("X-Topic"),
                                          "status": reply.status_code})
        return reply.status_code


class CronConnector:
    """Fires each cron function when its next time has come. `now` is injectable for tests."""

    def __init__(self, stack: Stack, invoke: Invoke,
                 now: Callable[[], datetime] = lambda: datetime.now(SEOUL)) -> None:
        self.invoke = invoke
        self.now = now
        self.schedules = {f.name: f.schedule for f in stack.functions.values() if f.schedule}
        start = now()
        self.next_at = {name: self._after(expr, start) for name, expr in self.schedules.items()}

    @staticmethod
    def _after(expr: str, moment: datetime) -> datetime:
        return croniter(expr, moment.astimezone(SEOUL)).get_next(datetime)

    def tick(self, moment: datetime | None = None) -> list[str]:
        """Call every function whose time is ≤ `moment`; return their names."""
        moment = moment or self.now()
        fired = []
        for name, due in self.next_at.items():
            if due <= moment:
                self.invoke(name, b"", {"X-Topic": CRON_TOPIC, "X-Connector": "cron-connector"})
                fired.append(name)
                self.next_at[name] = self._after(self.schedules[name], moment)
        return fired

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.tick()
            if not self.next_at:
                stop.wait()
                return
            wait = (min(self.next_at.values()) - self.now()).total_seconds()
            stop.wait(min(max(wait, 0.05), 1.0))


def subscriptions(stack: Stack) -> dict[str, list[str]]:
    """Subject (un-prefixed) → functions listening on it."""
    found: dict[str, list[str]] = {}
    for fn in stack.functions.values():
        for subject in fn.topics:
            found.setdefault(subject, []).append(fn.name)
    return found


class NatsConnector:
    """Subscribes to every function topic and hands each message to the functions on it."""

    def __init__(self, stack: Stack, settings: Settings, invoke: Invoke) -> None:
        self.settings = settings
        self.invoke = invoke
        self.subjects = subscriptions(stack)
        self.ready = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        if not self.subjects:
            self.ready.set()
            await stop.wait()
            return
        client = await nats.connect(self.settings.nats_url, max_reconnect_attempts=-1)
        prefix = self.settings.nats_prefix
        loop = asyncio.get_running_loop()
        try:
            for subject, names in self.subjects.items():
                async def on_message(msg: nats.aio.msg.Msg, names: list[str] = names) -> None:
                    topic = msg.subject.removeprefix(prefix)
                    headers = {"X-Topic": topic, "X-Connector": "connector-sdk"}
                    for name in names:
                        # A blocking HTTP call; off the loop so other subjects keep flowing.
                        await loop.run_in_executor(None, self.invoke, name, msg.data, headers)
                await client.subscribe(prefix + subject, cb=on_message)
            await client.flush()
            self.ready.set()
            await stop.wait()
        finally:
            await client.drain()


def run_connectors(stack: Stack, settings: Settings, gateway_url: str, stop: threading.Event) -> None:
    """Run both connectors until `stop` is set."""
    invoke = HttpInvoker(gateway_url, settings.internal_token)
    cron = threading.Thread(target=CronConnector(stack, invoke).run, args=(stop,), name="cron", daemon=True)
    cron.start()
    connector = NatsConnector(stack, settings, invoke)

    async def main() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(done.set)),
                         daemon=True).start()
        await connector.run(done)

    asyncio.run(main())
    cron.join(timeout=5)


def serve(stack: Stack, settings: Settings, gateway_url: str) -> None:
    """Run both connectors until SIGTERM or SIGINT: the connectors process of `autostock dev`
    and the k3s connectors Deployment (`autostock connectors`)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_connectors(stack, settings, gateway_url, stop)
