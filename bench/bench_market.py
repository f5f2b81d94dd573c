"""Market data benchmarks (issue 6): collector ingest, quote-snapshot throughput/latency, stream fan-out.

- collector: KIS H0STCNT0 frames (10 trades each, 200 codes) fed straight into the collector
  (parse → dedupe → bars → NATS publish → Redis latest quote → PostgreSQL COPY), as fast as it
  takes them for DURATION seconds; ticks/s counts only ticks stored in PostgreSQL by the end.
- quote-snapshot: the function's handler called in-process (no HTTP layer: the gateway is the
  runtime's) by 32 threads, 5 fresh codes per request: most req/s, and p95 latency at a
  constant offered 1,000 req/s (open loop: latency counts from the scheduled send time).
- stream: the server in its own process; 1,000 websocket clients in this one, each subscribed
  to 10 of 200 codes; every code ticks once a second (200 ticks/s in, ~10,000 messages/s out).
  p99 delivery latency (publish → client receive), the server's RSS, then the input rate is
  doubled until p99 passes 250 ms. The clients share one Python process, so at high rates
  they may be the bottleneck; the figure is then a lower bound for the server.
Uses a throwaway database and its own Redis/NATS prefixes; every connection is loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import threading
import time
import uuid
from typing import Any

import psycopg

from autostock import contract
from autostock.brokers.kis import frames
from autostock.config import load_settings
from autostock.db.migrate import migrate

ADMIN_DB_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CODES = [f"{100000 + i * 7:06d}" for i in range(200)]


def _settings(db_url: str, run: str):  # noqa: ANN202
    return load_settings({
        "DATABASE_URL": db_url, "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "NATS_URL": os.environ.get("NATS_URL", "nats://127.0.0.1:4222"), "JWT_SECRET": "bench-" + run * 6,
        "ENCRYPTION_KEYS": "unused", "REDIS_PREFIX": f"bench{run}:", "NATS_PREFIX": f"bench{run}.",
        "SECRETS_DIR": "/nonexistent"})


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# ---- collector ---------------------------------------------------------------------------
def _frame(codes: list[str], cum: dict[str, int], second: int) -> str:
    rows = []
    hhmmss = (dt.datetime(2026, 3, 3, 9, 0) + dt.timedelta(seconds=second)).strftime("%H%M%S")
    for code in codes:
        qty = random.randint(1, 50)  # noqa: S311
        cum[code] += qty
        row = ["0"] * len(frames.TRADE_COLUMNS)
        row[0], row[1], row[2], row[3], row[12], row[13], row[33] = (
            code, hhmmss, str(50_000 + random.randint(-20, 20) * 100), "2", str(qty), str(cum[code]), "20260303")  # noqa: S311
        rows.append(row)
    return frames.build_frame(frames.TRADE_TR, rows)


async def _ingest(settings: Any, pool: Any, seconds: float) -> dict[str, Any]:
    from autostock.market.collector import Collector, CollectorConfig
    config = CollectorConfig(url="ws://unused", approval_keys=["k"] * 5, universe=CODES, probe_port=None,
                             close_on_wall_clock=False)
    collector = Collector(settings, pool, config)
    await collector.open()
    flusher = asyncio.ensure_future(collector.flush_loop())
    cum = dict.fromkeys(CODES, 0)
    started = time.perf_counter()
    frames_sent, i = 0, 0
    while time.perf_counter() - started < seconds:
        batch = CODES[(i * 10) % 200:(i * 10) % 200 + 10]
        await collector.ingest_text(_frame(batch, cum, i // 20))   # 200 ticks per simulated second
        frames_sent += 1
        i += 1
        if i % 20 == 0:
            await asyncio.sleep(0)   # let the flusher and the NATS writer run
    collector.stop()
    await flusher
    await collector.flush()
    elapsed = time.perf_counter() - started
    await collector.close()
    return {"seconds": round(elapsed, 2), "ticks": collector.counters["ticks"],
            "stored": collector.counters["stored"], "bars": collector.counters["bars"],
            "ticks_per_second": round(collector.counters["stored"] / elapsed),
            "target_ticks_per_second": 20_000}


# ---- quote-snapshot ----------------------------------------------------------------------
def _handler(folder: str) -> Any:
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "functions", folder, "handler.py")
    spec = importlib.util.spec_from_file_location(f"bench_fn_{folder}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _quotes(resources: Any, seconds: float) -> dict[str, Any]:
    from autostock.auth.tokens import issue_access_token
    from autostock.contract import Event
    from autostock.market.quotes import StoredQuote, write_quote
    handler = _handler("quote_snapshot")
    settings = resources.settings
    token, _ = issue_access_token(settings, str(uuid.uuid4()), ["read"], ttl=3600)

    def refresh() -> None:   # fresh collector quotes, so every request is answered from Redis
        for code in CODES[:50]:
            write_quote(resources.redis, settings, StoredQuote(code, 50_000, at=dt.datetime.now(dt.UTC)))

    refresh()

    def one() -> float:
        codes = ",".join(random.sample(CODES[:50], 5))  # noqa: S311
        t0 = time.perf_counter()
        reply = handler.handle(Event("GET", "/api/v1/market/quotes", headers={"Authorization": f"Bearer {token}"},
                                     query={"codes": codes}))
        assert reply["statusCode"] == 200, reply
        return time.perf_counter() - t0

    done = [0]
    stop = time.perf_counter() + seconds

    def closed_loop() -> None:
        while time.perf_counter() < stop:
            one()
            done[0] += 1

    threads = [threading.Thread(target=closed_loop) for _ in range(32)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    max_rps = done[0] / (time.perf_counter() - t0)

    refresh()
    rate, latencies, lock = 1000, [], threading.Lock()
    n = int(rate * seconds)
    begin = time.perf_counter() + 0.1
    next_index = [0]

    def open_loop() -> None:
        while True:
            with lock:
                k = next_index[0]
                next_index[0] += 1
            if k >= n:
                return
            due = begin + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            one()
            with lock:
                latencies.append(time.perf_counter() - due)

    threads = [threading.Thread(target=open_loop) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"max_req_per_s_32_threads": round(max_rps), "target_req_per_s": 2000,
            "p95_ms_at_1000_req_per_s": round(_pct(latencies, 95) * 1000, 2),
            "p50_ms_at_1000_req_per_s": round(_pct(latencies, 50) * 1000, 2), "target_p95_ms": 20,
            "note": "in-process handler calls (auth + Redis), no HTTP gateway"}


# ---- stream ------------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _fan_out(settings: Any, port: int, pid: int, clients: int, step_seconds: float,
                   max_hz: float) -> dict[str, Any]:
    import nats
    from websockets.asyncio.client import connect

    from autostock.auth.tokens import issue_access_token
    token, _ = issue_access_token(settings, str(uuid.uuid4()), ["read"], ttl=3600)
    latencies: list[float] = []
    conns = []
    rng = random.Random(6)

    async def reader(ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "tick":
                latencies.append(time.time() - dt.datetime.fromisoformat(msg["at"]).timestamp())

    for i in range(clients):
        ws = await connect(f"ws://127.0.0.1:{port}/ws/market?token={token}", max_queue=None)
        await ws.send(json.dumps({"op": "subscribe", "codes": rng.sample(CODES, 10)}))
        conns.append(ws)
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    readers = [asyncio.ensure_future(reader(ws)) for ws in conns]
    await asyncio.sleep(1.0)
    nc = await nats.connect(settings.nats_url)

    async def run_rate(per_code_hz: float) -> dict[str, Any]:
        latencies.clear()
        interval = 1.0 / per_code_hz
        end = time.time() + step_seconds
        while time.time() < end:
            tick_start = time.time()
            for code in CODES:
                body = {"code": code, "price": 50_000, "volume": 1, "at": dt.datetime.now(dt.UTC).isoformat()}
                await nc.publish(settings.subject("ticks", code), json.dumps(body).encode())
            await nc.flush()
            await asyncio.sleep(max(0.0, interval - (time.time() - tick_start)))
        await asyncio.sleep(0.5)
        return {"ticks_in_per_s": round(200 * per_code_hz), "messages": len(latencies),
                "p50_ms": round(_pct(latencies, 50) * 1000, 1), "p99_ms": round(_pct(latencies, 99) * 1000, 1),
                "server_rss_mb": round(_rss_mb(pid), 1)}

    base = await run_rate(1.0)
    ramp, hz, passed_at = [], 2.0, None
    while hz <= max_hz:
        r = await run_rate(hz)
        ramp.append(r)
        if r["p99_ms"] > 250:
            passed_at = r["ticks_in_per_s"]
            break
        hz *= 2
    for t in readers:
        t.cancel()
    for ws in conns:
        await ws.close()
    await nc.close()
    return {"clients": clients, "codes_per_client": 10, "codes": 200, **{"base_" + k: v for k, v in base.items()},
            "target_p99_ms": 100, "ramp": ramp, "p99_passes_250ms_at_ticks_in_per_s": passed_at,
            "note": "clients share one Python process with the publisher"}


def _stream(settings: Any, quick: bool) -> dict[str, Any]:
    import socket
    import subprocess
    import sys
    with socket.socket() as probe:   # a free port for the server process (bench-only race, harmless)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": settings.database_url.reveal(), "REDIS_URL": settings.redis_url.reveal(),
           "NATS_URL": settings.nats_url, "JWT_SECRET": settings.jwt_secret.reveal(), "ENCRYPTION_KEYS": "unused",
           "REDIS_PREFIX": settings.redis_prefix, "NATS_PREFIX": settings.nats_prefix, "SECRETS_DIR": "/nonexistent",
           "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "stream", "--port", str(port)], env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        rss_idle = _rss_mb(proc.pid)
        result = asyncio.run(asyncio.wait_for(
            _fan_out(settings, port, proc.pid, 200 if quick else 1000, 3.0 if quick else 10.0, 4 if quick else 32),
            300))
        return {"server_rss_idle_mb": round(rss_idle, 1), **result}
    finally:
        proc.terminate()
        proc.wait(10)


def run(quick: bool) -> dict[str, Any]:
    from autostock.resources import Resources
    run_id = uuid.uuid4().hex[:8]
    name = f"autostock_bench_{run_id}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = ADMIN_DB_URL.rpartition("/")[0] + "/" + name
    try:
        migrate(db_url)
        settings = _settings(db_url, run_id)
        res = Resources.open(settings)
        contract.install(res)
        try:
            out = {"collector": asyncio.run(_ingest(settings, res.pool, 5.0 if quick else 60.0)),
                   "quote_snapshot": _quotes(res, 2.0 if quick else 10.0),
                   "stream": _stream(settings, quick)}
            keys = list(res.redis.scan_iter(match=settings.redis_prefix + "*", count=1000))
            for i in range(0, len(keys), 500):
                res.redis.delete(*keys[i:i + 500])
        finally:
            contract.install(None)
            res.close()
    finally:
        with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out["summary"] = {"collector_ticks_per_s": out["collector"]["ticks_per_second"],
                      "quotes_max_req_per_s": out["quote_snapshot"]["max_req_per_s_32_threads"],
                      "quotes_p95_ms_at_1000": out["quote_snapshot"]["p95_ms_at_1000_req_per_s"],
                      "stream_p99_ms": out["stream"]["base_p99_ms"]}
    return out
