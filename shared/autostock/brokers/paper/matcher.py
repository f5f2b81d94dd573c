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
from typing import Any

import nats
from nats.aio.msg import Msg

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
MAX_BATCH = 500


class Matcher:
    """Applies ticks to the resting orders in the database."""

    def __init__(self, resources: Resources, config: model.PaperConfig | None = None) -> None:
        self.resources = resources
        self.config = config or model.PaperConfig()

    def book(self, codes: set[str]) -> dict[str, list[dict[str, Any]]]:
        """The open limit orders of `codes`, one query for a whole batch of ticks."""
        with db.service(self.resources.pool) as conn:
            rows = conn.execute(
                "SELECT id, account_id, symbol, side, price, quantity, filled_quantity, cancelled_quantity,"
                " state, created_at, trade_date FROM paper_orders"
                f" WHERE symbol = ANY(%s) AND order_type = 'limit' AND state IN {store.OPEN_SQL} ORDER BY id",
                (sorted(codes),)).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["symbol"], []).append(row)
        return out

    def on_tick(self, tick: Tick) -> list[store.AppliedFill]:
        """Fill what `tick` reaches; returns the fills recorded now (none on a replay)."""
        return self.on_ticks([tick])

    def on_ticks(self, ticks: list[Tick]) -> list[store.AppliedFill]:
        """Apply `ticks` in order against one read of the book (the matcher drains NATS in batches,
        so a burst costs one query, not one per tick)."""
        if not ticks:
            return []
        book = self.book({t.code for t in ticks})
        applied = []
        for tick in ticks:
            rows = {r["id"]: r for r in book.get(tick.code, ()) if _reachable(r, tick)}
            resting = [model.Resting(order_id=r["id"], side=Side(r["side"]), price=int(r["price"]),
                                     remaining=store.remaining(r)) for r in rows.values()]
            for order, quantity in model.allocate(resting, tick.price, tick.volume, self.config.partial_fills):
                try:
                    done, fresh = self._fill(str(rows[order.order_id]["account_id"]), order.order_id, quantity, tick)
                except Exception:  # one order's fault (a lost connection, a deadlock) must not
                    # cost the batch's other orders, of any user, their fills: ticks are not redelivered
                    log.exception("paper fill failed", extra={"order_id": order.order_id, "tick": tick.key})
                    continue
                rows[order.order_id].update(fresh)   # later ticks of the batch see what is left
                if done is not None:
                    publish_fill(self.resources, done)
                    applied.append(done)
        return applied

    def _fill(self, account_id: str, order_id: int, quantity: int,
              tick: Tick) -> tuple[store.AppliedFill | None, dict[str, Any]]:
        """(the fill recorded now or None, the order row as it stands after)."""
        with db.service(self.resources.pool) as conn:
            account = store.lock_account(conn, account_id)
            order = store.get_order(conn, order_id, lock=True)
            # Re-read under the lock: a cancel, a modify or another fill may have come first (a
            # modified price the trade does not reach must not fill at that price).
            quantity = min(quantity, store.remaining(order))
            if not _reachable(order, tick) or quantity <= 0:
                return None, order
            fill_id = f"{store.broker_order_id(order_id)}-t{tick.key}"
            done = store.apply_fill(conn, order, fill_id, quantity, int(order["price"]), tick.at,
                                    costs_of(account, self.config))
            return done, (done.order if done else order)


def _reachable(order: dict[str, Any], tick: Tick) -> bool:
    """Open, placed before the trade printed on the same day (day orders), and reached by its price."""
    return (order["state"] in store.OPEN_STATES and order["created_at"] <= tick.at
            and order["trade_date"] == tick.at.astimezone(SEOUL).date()
            and model.crosses(Side(order["side"]), int(order["price"]), tick.price))


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
        inbox: asyncio.Queue[bytes] = asyncio.Queue()

        async def receive(msg: Msg) -> None:
            inbox.put_nowait(msg.data)

        sub = await client.subscribe(settings.subject("ticks", ">"), queue=QUEUE_GROUP, cb=receive)
        await client.flush()
        log.info("paper matcher listening", extra={"subject": settings.subject("ticks", ">")})
        if ready is not None:
            ready.set()
        while not stop_event.is_set():
            try:
                batch = [await asyncio.wait_for(inbox.get(), POLL_SECONDS)]
            except TimeoutError:
                continue
            while len(batch) < MAX_BATCH and not inbox.empty():
                batch.append(inbox.get_nowait())
            await _handle(matcher, batch)
        await sub.unsubscribe()
    finally:
        await client.close()


async def _handle(matcher: Matcher, batch: list[bytes]) -> None:
    ticks = []
    for data in batch:
        try:
            ticks.append(parse_tick(data))
        except ValidationError as e:
            log.warning("malformed tick skipped", extra={"error": e.message})
    try:
        await asyncio.to_thread(matcher.on_ticks, ticks)
    except Exception:  # one failing batch (e.g. a DB restart) must not stop the matcher
        log.exception("ticks not applied", extra={"ticks": len(ticks)})
