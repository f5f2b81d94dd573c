"""The paper matcher: fills resting paper limit orders from the trades on NATS `ticks.>`.

Runs as the `paper-matcher` Deployment (k3s) or as a process of the local runtime
(`autostock paper-matcher`, or `run_matcher(settings, stop_event)` on a thread). Each tick is
handled on its own: the crossing orders are planned by `model.allocate` (price, then time
priority, capped by the traded volume) and each fill is applied in its own transaction under
the account lock, with fill_id `<order>-t<tick key>`, so a redelivered tick fills nothing twice.
Several matchers may run: they share the work through a NATS queue group, and the row locks
keep two of them from filling the same order twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

import nats
from nats.errors import TimeoutError as NatsTimeout

from autostock import db
from autostock.brokers.base import Side
from autostock.brokers.paper import model, store
from autostock.brokers.paper.broker import costs_of, publish_fill
from autostock.config import Settings
from autostock.errors import ValidationError
from autostock.market.quotes import SEOUL, Tick, parse_tick
from autostock.resources import Resources

log = logging.getLogger("autostock.brokers.paper.matcher")

QUEUE_GROUP = "paper-matcher"
POLL_SECONDS = 0.2


class Matcher:
    """Applies ticks to the resting orders in the database."""

    def __init__(self, resources: Resources, config: model.PaperConfig | None = None) -> None:
        self.resources = resources
        self.config = config or model.PaperConfig()

    def resting(self, tick: Tick) -> list[tuple[model.Resting, str]]:
        """Open limit orders of the tick's symbol that it reaches, placed before it printed on the
        same day (day orders: yesterday's leftovers are expired, never filled)."""
        with db.service(self.resources.pool) as conn:
            rows = conn.execute(
                "SELECT id, account_id, side, price, quantity, filled_quantity, cancelled_quantity"
                " FROM paper_orders WHERE symbol = %s AND order_type = 'limit' AND state = ANY(%s)"
                " AND ((side = 'buy' AND price >= %s) OR (side = 'sell' AND price <= %s))"
                " AND created_at <= %s AND trade_date = %s",
                (tick.code, list(store.OPEN_STATES), tick.price, tick.price, tick.at,
                 tick.at.astimezone(SEOUL).date())).fetchall()
        return [(model.Resting(order_id=r["id"], side=Side(r["side"]), price=int(r["price"]),
                               remaining=store.remaining(r)), str(r["account_id"])) for r in rows]

    def on_tick(self, tick: Tick) -> list[store.AppliedFill]:
        """Fill what `tick` reaches; returns the fills recorded now (none on a replay)."""
        found = self.resting(tick)
        if not found:
            return []
        accounts = {resting.order_id: account for resting, account in found}
        plan = model.allocate([r for r, _ in found], tick.price, tick.volume, self.config.partial_fills)
        applied = []
        for resting, quantity in plan:
            done = self._fill(accounts[resting.order_id], resting.order_id, quantity, tick)
            if done is not None:
                publish_fill(self.resources, done)
                applied.append(done)
        return applied

    def _fill(self, account_id: str, order_id: int, quantity: int, tick: Tick) -> store.AppliedFill | None:
        with db.service(self.resources.pool) as conn:
            account = store.lock_account(conn, account_id)
            order = store.get_order(conn, order_id, lock=True)
            # Re-read under the lock: a cancel or another fill may have come first.
            if order["state"] not in store.OPEN_STATES:
                return None
            quantity = min(quantity, store.remaining(order))
            if quantity <= 0:
                return None
            fill_id = f"{store.broker_order_id(order_id)}-t{tick.key}"
            return store.apply_fill(conn, order, fill_id, quantity, int(order["price"]), tick.at,
                                    costs_of(account, self.config))


def run_matcher(settings: Settings, stop_event: threading.Event, *, ready: threading.Event | None = None,
                config: model.PaperConfig | None = None) -> None:
    """Consume ticks until `stop_event` is set; `ready` is set once the subscription is live."""
    resources = Resources.open(settings)
    try:
        asyncio.run(_serve(Matcher(resources, config), settings, stop_event, ready))
    finally:
        resources.close()


def serve(settings: Settings) -> int:
    """`autostock paper-matcher`: run in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_matcher(settings, stop)
    return 0


async def _serve(matcher: Matcher, settings: Settings, stop_event: threading.Event,
                 ready: threading.Event | None) -> None:
    client = await nats.connect(settings.nats_url, connect_timeout=2, max_reconnect_attempts=-1,
                                allow_reconnect=True, name="paper-matcher")
    try:
        sub = await client.subscribe(settings.subject("ticks", ">"), queue=QUEUE_GROUP)
        await client.flush()
        log.info("paper matcher listening", extra={"subject": settings.subject("ticks", ">")})
        if ready is not None:
            ready.set()
        while not stop_event.is_set():
            try:
                msg = await sub.next_msg(timeout=POLL_SECONDS)
            except NatsTimeout:
                continue
            await _handle(matcher, msg.data)
        await sub.unsubscribe()
    finally:
        await client.close()


async def _handle(matcher: Matcher, data: bytes) -> None:
    try:
        tick = parse_tick(data)
    except ValidationError as e:
        log.warning("malformed tick skipped", extra={"error": e.message})
        return
    try:
        await asyncio.to_thread(matcher.on_tick, tick)
    except Exception:  # one failing tick (e.g. a DB restart) must not stop the matcher
        log.exception("tick not applied", extra={"symbol": tick.code, "at": tick.at.isoformat()})
