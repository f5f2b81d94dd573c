"""tick-collector: KIS realtime trades → Redis latest quote, NATS `ticks.<code>`, PostgreSQL
ticks (COPY, at least once a second) and 1-minute bars (`bars.1m.<code>` when a minute closes).

- The universe is split into sessions of at most `per_session` codes (KIS allows one session
  per appkey and ~40 registrations per session, docs/brokers.md §1.8), one approval key each.
- A dropped session reconnects with jittered exponential back-off and subscribes again.
- Duplicates: a tick is identified by (code, day, cumulative volume). A tick not newer than
  the last one seen for its code (a replay after reconnect) is dropped here; the database key
  (code, ts, cum_volume) catches the rest, so a restart never stores a tick twice.
- Bars: stored first, published after the commit, so a published bar is always stored. On
  start the collector replays today's stored ticks that no stored bar covers, so the minute
  open when it stopped is completed instead of restarting from its next tick.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
import redis.asyncio as aioredis
from psycopg_pool import ConnectionPool

from autostock import db
from autostock.brokers.kis import frames
from autostock.brokers.kis.stream import KisStream
from autostock.config import Settings
from autostock.errors import AppError, BrokerUnavailable, ValidationError
from autostock.events import BARS_1M, TICKS
from autostock.market import storage, symbols
from autostock.market.calendar import SEOUL
from autostock.market.minutebars import BarRoller
from autostock.market.probe import serve_probe
from autostock.market.quotes import MARKETS, StoredQuote, Tick

log = logging.getLogger("autostock.collector")

PER_SESSION = 40          # python-kis caps a session at 40 (TR, key) pairs (§1.8)


@dataclass
class CollectorConfig:
    url: str                               # KIS realtime websocket
    approval_keys: list[str]               # one per session
    universe: list[str]
    per_session: int = PER_SESSION
    flush_interval: float = 0.5            # ticks reach PostgreSQL at least this often
    quote_interval: float = 0.05           # latest quotes reach Redis at least this often
    backoff_initial: float = 0.2
    backoff_max: float = 15.0
    close_on_wall_clock: bool = True       # also close bars by wall time (off for replayed feeds)
    probe_host: str = "127.0.0.1"
    probe_port: int | None = 0             # None: no /healthz, /metrics
    markets: dict[str, str] = field(default_factory=dict)   # code → KOSPI/KOSDAQ/KONEX
    products: dict[str, str] = field(default_factory=dict)  # code → etf (stock when absent)


def plan_sessions(universe: Sequence[str], keys: Sequence[str], per_session: int) -> list[tuple[str, list[str]]]:
    """(approval key, codes) per session; ValidationError when there are too few keys."""
    codes = list(dict.fromkeys(c.strip().upper() for c in universe if c.strip()))
    if not codes:
        raise ValidationError("the collector universe is empty", code="empty_universe")
    chunks = [codes[i:i + per_session] for i in range(0, len(codes), per_session)]
    if len(chunks) > len(keys):
        raise ValidationError(f"{len(codes)} codes need {len(chunks)} sessions of {per_session};"
                              f" only {len(keys)} approval key(s) configured", code="too_few_sessions")
    return list(zip(keys, chunks, strict=False))


class Collector:
    def __init__(self, settings: Settings, pool: ConnectionPool, config: CollectorConfig) -> None:
        self.settings = settings
        self.pool = pool
        self.config = config
        self.sessions = plan_sessions(config.universe, config.approval_keys, config.per_session)
        self.roller = BarRoller()
        self.connected = [False] * len(self.sessions)
        self.subscribed = [0] * len(self.sessions)
        self.counters = {"ticks": 0, "duplicates": 0, "reconnects": 0, "parse_errors": 0, "bars": 0,
                         "stored": 0, "flush_errors": 0}
        self.lag = 0.0
        self.last_flush = time.monotonic()
        self.probe_port = 0
        self._last_seen: dict[str, tuple[str, int]] = {}      # code → (YYYYMMDD, cum volume)
        self._ticks: list[Tick] = []
        self._bars: list[storage.MinuteBar] = []
        self._quotes: dict[str, tuple[frames.TradeTick, dt.datetime]] = {}
        self._subjects: dict[str, str] = {}
        self._times: dict[str, tuple[dt.datetime, str]] = {}
        self._rate = (time.monotonic(), 0, 0.0)                 # (since, ticks then, ticks/s)
        self._stop = asyncio.Event()
        self._nc: Any = None
        self._redis: aioredis.Redis | None = None
        self._probe: asyncio.Server | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        """Connect NATS and Redis and start /healthz + /metrics (run() calls it)."""
        self._stop = asyncio.Event()
        self._nc = await nats.connect(self.settings.nats_url, max_reconnect_attempts=-1, connect_timeout=2)
        self._redis = aioredis.Redis.from_url(self.settings.redis_url.reveal(), decode_responses=True)
        if self.config.probe_port is not None:
            self._probe = await serve_probe(self.config.probe_host, self.config.probe_port, self.health, self.metrics)
            self.probe_port = self._probe.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
        await self._nc.drain()
        await self._redis.aclose()

    async def run(self) -> None:
        """Collect until `stop()`; on the way out the buffered ticks and bars are stored."""
        await self.open()
        try:
            await asyncio.to_thread(self._resume)
            tasks = [asyncio.ensure_future(self._session(i, key, codes))
                     for i, (key, codes) in enumerate(self.sessions)]
            flusher = asyncio.ensure_future(self.flush_loop())
            await self._stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await flusher          # finishes a flush in progress instead of abandoning it
            await self.flush()
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    def _resume(self) -> None:
        codes = [c for _, chunk in self.sessions for c in chunk]
        closed: list[storage.MinuteBar] = []
        with db.service(self.pool) as conn:
            for code in codes:
                last = storage.last_tick(conn, code)
                if last is None:
                    continue
                day = last["ts"].astimezone(SEOUL)
                self._last_seen[code] = (day.strftime("%Y%m%d"), last["cum_volume"])
                start = day.replace(hour=0, minute=0, second=0, microsecond=0)
                for tick in storage.ticks_to_rebuild(conn, code, start):
                    closed += self.roller.add(tick)
        self._bars += closed   # minutes that ended before the stop but were never stored

    # ---- sessions ------------------------------------------------------------------------
    async def _session(self, index: int, key: str, codes: list[str]) -> None:
        attempt = 0
        while not self._stop.is_set():
            stream = KisStream(self.config.url, key)
            try:
                await stream.connect()
                for code in codes:
                    await stream.subscribe(frames.TRADE_TR, code)
                self.connected[index], self.subscribed[index], attempt = True, len(codes), 0
                await self._consume(stream)
            except AppError as e:
                log.warning("realtime session lost", extra={"session": index, "error": e.code})
            finally:
                self.connected[index], self.subscribed[index] = False, 0
                await stream.close()
            if self._stop.is_set():
                return
            self.counters["reconnects"] += 1
            delay = min(self.config.backoff_max, self.config.backoff_initial * 2 ** attempt)
            attempt += 1
            try:  # full jitter keeps many sessions from reconnecting in step (§1.8: storms get blocked)
                await asyncio.wait_for(self._stop.wait(), delay * random.uniform(0.5, 1.0))  # noqa: S311
            except TimeoutError:
                pass

    async def _consume(self, stream: KisStream) -> None:
        while True:
            try:
                async for event in stream.events():
                    if event.kind == "trades":
                        await self.on_trades(event.items)
            except frames.KisParseError:
                self.counters["parse_errors"] += 1   # one bad frame is skipped, the session goes on
                continue
            raise BrokerUnavailable("KIS realtime stream ended")

    # ---- per tick ------------------------------------------------------------------------
    async def ingest_text(self, text: str) -> None:
        """Handle one raw H0STCNT0 frame (the benchmark feeds frames this way)."""
        await self.on_trades(frames.parse_trades(text))

    async def on_trades(self, items: Sequence[frames.TradeTick]) -> None:
        publish = self._nc.publish
        received = time.time()
        for t in items:
            code = t.symbol
            seen = self._last_seen.get(code)
            mark = (t.date, t.cumulative_volume)
            if seen is not None and mark <= seen:
                self.counters["duplicates"] += 1
                continue
            self._last_seen[code] = mark
            at, iso = self._time(t.date, t.time)
            tick = Tick(code, t.price, t.volume, at, str(t.cumulative_volume))
            self._ticks.append(tick)
            closed = self.roller.add(tick)
            if closed:
                self._bars += closed
            self._quotes[code] = (t, at)   # the StoredQuote is built when quotes are written
            subject = self._subjects.get(code) or self._subjects.setdefault(code, self.settings.subject(TICKS, code))
            # The quotes.Tick wire format, formatted directly: json.dumps per tick is the
            # collector's largest cost at 20,000 ticks/s (code is alphanumeric, `at` ISO-8601).
            await publish(subject, (f'{{"code":"{code}","price":{t.price},"volume":{t.volume},'
                                    f'"at":"{iso}","seq":"{t.cumulative_volume}"}}').encode())
            self.counters["ticks"] += 1
            self.lag = max(0.0, received - at.timestamp())

    def _time(self, date: str, hhmmss: str) -> tuple[dt.datetime, str]:
        key = date + hhmmss
        found = self._times.get(key)
        if found is None:
            if len(self._times) > 4096:
                self._times.clear()
            at = dt.datetime.strptime(key, "%Y%m%d%H%M%S").replace(tzinfo=SEOUL)
            found = self._times[key] = (at, at.isoformat())
        return found

    # ---- flushing ------------------------------------------------------------------------
    async def flush_loop(self) -> None:
        """Quotes to Redis every `quote_interval`, ticks and bars to PostgreSQL every
        `flush_interval`, until `stop()` (it ends between flushes, never inside one)."""
        next_db = time.monotonic() + self.config.flush_interval
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.config.quote_interval)
            except TimeoutError:
                pass
            await self._write_quotes()
            if time.monotonic() >= next_db and not self._stop.is_set():
                next_db = time.monotonic() + self.config.flush_interval
                try:
                    await self.flush()
                except Exception:  # a failed flush keeps its batch for the next try
                    self.counters["flush_errors"] += 1
                    log.exception("flush failed")

    async def _write_quotes(self) -> None:
        if not self._quotes or self._redis is None:
            return
        quotes, self._quotes = self._quotes, {}
        key, markets, products = self.settings.redis_key, self.config.markets, self.config.products
        await self._redis.mset({key("quote", code): StoredQuote(
            code, t.price, t.bid, t.ask, t.cumulative_volume, t.price - t.change, at,
            markets.get(code, "KOSPI"), products.get(code, "stock")).to_json() for code, (t, at) in quotes.items()})

    async def flush(self) -> None:
        """Store buffered ticks and closed bars (one transaction), then publish the bars."""
        now = dt.datetime.now(SEOUL) if self.config.close_on_wall_clock else None
        self._bars += self.roller.close_due(max(filter(None, (now, self.roller.feed_time)), default=None))
        await self._write_quotes()
        ticks, bars = self._ticks, self._bars
        self._ticks, self._bars = [], []
        if ticks or bars:
            try:
                stored = await asyncio.to_thread(self._store, ticks, bars)
            except Exception:
                self._ticks, self._bars = ticks + self._ticks, bars + self._bars
                raise
            self.counters["stored"] += stored
            for bar in bars:
                await self._nc.publish(self.settings.subject(BARS_1M, bar.code),
                                       _json(bar.to_json()))
            self.counters["bars"] += len(bars)
            await self._nc.flush()
        self.last_flush = time.monotonic()

    def _store(self, ticks: list[Tick], bars: list[storage.MinuteBar]) -> int:
        with db.service(self.pool) as conn:
            stored = storage.copy_ticks(conn, ticks)
            storage.upsert_minute_bars(conn, bars)
        return stored

    # ---- health --------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        stale = time.monotonic() - self.last_flush > max(5.0, 10 * self.config.flush_interval)
        ok = all(self.connected) and not stale
        return ok, {"ok": ok, "sessions": len(self.sessions), "connected": sum(self.connected),
                    "subscriptions": sum(self.subscribed), "flush_stale": stale, **self.counters}

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        since, then, rate = self._rate
        now = time.monotonic()
        if now - since >= 1.0:
            rate = (self.counters["ticks"] - then) / (now - since)
            self._rate = (now, self.counters["ticks"], rate)
        c = self.counters
        p = "autostock_collector_"
        return {
            p + "ticks_total": ("counter", "trade ticks accepted", c["ticks"]),
            p + "ticks_per_second": ("gauge", "ticks accepted per second (recent)", rate),
            p + "lag_seconds": ("gauge", "receive time minus exchange time of the last tick", self.lag),
            p + "reconnects_total": ("counter", "realtime session reconnects", c["reconnects"]),
            p + "subscriptions": ("gauge", "codes subscribed now", sum(self.subscribed)),
            p + "sessions_connected": ("gauge", "realtime sessions connected", sum(self.connected)),
            p + "duplicates_total": ("counter", "replayed ticks dropped", c["duplicates"]),
            p + "bars_published_total": ("counter", "1-minute bars stored and published", c["bars"]),
            p + "late_ticks_total": ("counter", "ticks after their minute closed", self.roller.late_ticks),
            p + "flush_errors_total": ("counter", "failed database flushes", c["flush_errors"]),
        }


def _json(body: dict[str, Any]) -> bytes:
    import json
    return json.dumps(body, separators=(",", ":")).encode()


def listing_of(pool: ConnectionPool, codes: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(code → the market a quote names, code → its product) for the collector's quotes: KOSDAQ
    GLOBAL trades under KOSDAQ rules, and the paper broker takes an ETF's tick grid and tax
    from the product."""
    with db.service(pool) as conn:
        rows = conn.execute("SELECT code, market, name_ko FROM symbols WHERE code = ANY(%s)",
                            (list(codes),)).fetchall()
    markets = {}
    for r in rows:
        market = "KOSDAQ" if r["market"].startswith("KOSDAQ") else r["market"]
        if market in MARKETS:
            markets[r["code"]] = market
    return markets, {r["code"]: symbols.product_of(r["name_ko"]) for r in rows}
