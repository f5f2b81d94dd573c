"""Market data benchmarks (issue 6): collector ingest, quote-snapshot throughput/latency, stream fan-out.

- collector: KIS H0STCNT0 frames (10 trades each, 200 codes) fed straight into the collector
  (parse → dedupe → bars → NATS publish → Redis latest quote → PostgreSQL COPY), as fast as it
  takes them for 60 s (5 s with QUICK=1); ticks/s counts only ticks stored in PostgreSQL by the end.
- quote-snapshot: GET /api/v1/market/quotes over HTTP, as a dashboard calls it: a real active
  user's access token, 5 of 50 codes per request, the 50 kept fresh in Redis as the collector
  writes them (every answer is checked to come from Redis, none from the broker). Served by
  the function template's app (`autostock.runtime.wsgi.single_function_app`, `_quotes_app`)
  under gunicorn gthread, 3 workers x 8 threads: on the NAS each function is its own image,
  of-watchdog in front of exactly this app, and the local gateway exists only for
  `autostock dev`; it is also how bench_auth serves GET /auth/me, the same auth path, so the
  two compare. (of-watchdog's proxy hop is not measured.) The most req/s at 32 connections
  (wrk, closed loop), with the gunicorn processes' CPU ms per request (/proc: holds on a busy
  machine, when req/s does not), and p95 at a constant offered 1,000 req/s (open loop:
  latency from each request's scheduled send time, so queueing counts).
- stream: the server in its own process (clients are one real active user, whose token and
  standing it checks at connect and every heartbeat); 1,000 websocket clients in this one, each subscribed
  to 10 of 200 codes; every code ticks once a second (200 ticks/s in, ~10,000 messages/s out),
  the codes in turn at evenly spread phases, as independent stocks trade. p99 delivery latency
  (publish → client receive), the server's RSS, then the input rate is doubled until p99
  passes 250 ms. Each step reports the input rate achieved (not just offered), the messages
  delivered against those expected (the server coalesces for slow readers, which p99 alone
  hides) and the CPU of the server and of this process: the clients share one Python process
  with the publisher, so when it nears 100 % they are the bottleneck and the rate is a lower
  bound for the server.
- stream re-check: the CPU of this process for one re-check of 1,000 connections of 1,000 users
  (`autostock.auth.still_standing`, what the stream server runs every heartbeat), cold (every
  standing read from PostgreSQL in one query) and warm (one Redis MGET); Redis's and
  PostgreSQL's own CPU are not included.
Uses a throwaway database and its own Redis/NATS prefixes; every connection is loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import tempfile
import threading
import time
from typing import Any

from autostock import db
from autostock.auth import still_standing
from autostock.auth.tokens import issue_access_token, principal_from_claims
from autostock.brokers.kis import frames
from autostock.market.calendar import SEOUL
from autostock.market.quotes import StoredQuote
from bench._load import closed_loop_raw, open_loop_raw, process_tree_cpu, raw_request, wrk
from bench._services import bench_user, free_port, gunicorn, server_env, temporary_resources, wait_for_port

CODES = [f"{100000 + i * 7:06d}" for i in range(200)]


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
QUOTED = CODES[:50]          # the codes the collector keeps fresh; a request asks for 5 of them
CODES_PER_REQUEST = 5
QUOTES_PATH = "/api/v1/market/quotes"


class _FreshQuotes:
    """Writes the quoted codes' latest quotes to Redis as the collector does (one MSET every
    50 ms, its `quote_interval`, stamped now), so every request is answered from Redis."""

    def __init__(self, resources: Any, interval: float = 0.05) -> None:
        self.resources, self.interval = resources, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def write(self) -> None:
        key, now = self.resources.settings.redis_key, dt.datetime.now(SEOUL)
        self.resources.redis.mset({key("quote", code): StoredQuote(
            code, 50_000 + i * 100, 50_000 + i * 100 - 100, 50_000 + i * 100, 1_000_000 + i, 49_500, now).to_json()
            for i, code in enumerate(QUOTED)})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def __enter__(self) -> _FreshQuotes:
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _dashboard_paths(n: int) -> list[str]:
    """`n` request paths, each asking for 5 distinct codes of the 50, as a dashboard would."""
    rng = random.Random(5)
    return [f"{QUOTES_PATH}?codes={','.join(rng.sample(QUOTED, CODES_PER_REQUEST))}" for _ in range(n)]


def _wrk_script(paths: list[str], folder: str) -> str:
    path = os.path.join(folder, "quotes.lua")
    with open(path, "w") as f:
        f.write("local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
                "local i = 0\n"
                "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
    return path


def _answered_from_redis(body: bytes) -> bool:
    return b'"missing": []' in body and body.count(b'"source": "stream"') == CODES_PER_REQUEST


def _quotes(resources: Any, seconds: int) -> dict[str, Any]:
    user = bench_user(resources, "bench password that is long enough")
    token, _ = issue_access_token(resources.settings, user["id"], ["read"], ttl=3600)
    headers = {"Authorization": f"Bearer {token}"}
    paths = _dashboard_paths(1000)
    workers = int(os.environ.get("BENCH_QUOTES_WORKERS", "3"))
    # One user makes every call, so its per-minute limit is lifted; the limit is still counted.
    with (_FreshQuotes(resources), tempfile.TemporaryDirectory() as folder,
          gunicorn(resources, "bench._quotes_app:app", workers=workers, threads=8,
                   env={"RATE_LIMIT_USER_PER_MINUTE": "1000000000"}) as (pid, port)):
        raws = [raw_request("GET", p, port, headers) for p in paths]
        warm = asyncio.run(closed_loop_raw(port, raws[0], 8, 1.0))
        check = asyncio.run(open_loop_raw(port, raws, rate=200, seconds=1, accept=_answered_from_redis))
        cpu = process_tree_cpu(pid)
        closed = wrk(f"http://127.0.0.1:{port}{QUOTES_PATH}", connections=32, seconds=seconds, headers=headers,
                     script=_wrk_script(paths, folder))
        cpu = process_tree_cpu(pid) - cpu
        opened = asyncio.run(open_loop_raw(port, raws, rate=1000, seconds=seconds, accept=_answered_from_redis))
    requests = max(1, closed["requests"])
    return {"max_req_per_s_32_connections": round(closed["rps"]), "target_req_per_s": 2000,
            "server_cpu_ms_per_request": round(cpu * 1000 / requests, 3),
            "wrk_cpu_ms_per_request": round(closed["cpu_seconds"] * 1000 / requests, 3),
            "p95_ms_at_1000_req_per_s": opened["p95_ms"], "target_p95_ms": 20, "open_loop_1000": opened,
            "errors": closed["errors"] + warm["errors"] + check["errors"] + opened["errors"],
            "socket_errors": closed["socket_errors"], "gunicorn": f"{workers} workers x 8 threads (gthread)",
            "load_average_at_end": os.getloadavg()[0]}


# ---- stream ------------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _fan_out(settings: Any, port: int, pid: int, token: str, clients: int, step_seconds: float,
                   max_hz: float) -> dict[str, Any]:
    import nats
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    conns = []
    rng = random.Random(6)

    async def reader(ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "tick":
                latencies.append(time.time() - dt.datetime.fromisoformat(msg["at"]).timestamp())

    subscribers = dict.fromkeys(CODES, 0)
    for i in range(clients):
        ws = await connect(f"ws://127.0.0.1:{port}/ws/market?token={token}", max_queue=None)
        codes = rng.sample(CODES, 10)
        for code in codes:
            subscribers[code] += 1
        await ws.send(json.dumps({"op": "subscribe", "codes": codes}))
        conns.append(ws)
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    readers = [asyncio.ensure_future(reader(ws)) for ws in conns]
    await asyncio.sleep(1.0)
    nc = await nats.connect(settings.nats_url)

    async def run_rate(per_code_hz: float) -> dict[str, Any]:
        # Codes tick in turn, evenly spread: each at its own phase, `per_code_hz` times a second,
        # as independent stocks trade (not all 200 in one burst, whose drain time p99 would measure).
        latencies.clear()
        period = 1.0 / (len(CODES) * per_code_hz)
        cpu, server_cpu = time.process_time(), process_tree_cpu(pid)
        start = time.time()
        end, sent, expected, behind = start + step_seconds, 0, 0, 0.0
        while start + sent * period < end:
            due = start + sent * period
            now = time.time()
            if due > now:
                await asyncio.sleep(due - now)
            behind = max(behind, time.time() - due)
            while start + sent * period <= time.time() and start + sent * period < end:
                code = CODES[sent % len(CODES)]
                body = {"code": code, "price": 50_000, "volume": 1, "at": dt.datetime.now(dt.UTC).isoformat()}
                await nc.publish(settings.subject("ticks", code), json.dumps(body).encode())
                sent, expected = sent + 1, expected + subscribers[code]
        await nc.flush()
        elapsed = time.time() - start
        await asyncio.sleep(0.5)
        return {"ticks_in_per_s_offered": round(len(CODES) * per_code_hz), "ticks_in_per_s": round(sent / elapsed),
                "publisher_behind_ms_max": round(behind * 1000, 1),
                "messages_expected": expected, "messages": len(latencies),
                "p50_ms": round(_pct(latencies, 50) * 1000, 1), "p99_ms": round(_pct(latencies, 99) * 1000, 1),
                "server_rss_mb": round(_rss_mb(pid), 1),
                "server_cpu_percent": round(100 * (process_tree_cpu(pid) - server_cpu) / elapsed),
                "clients_cpu_percent": round(100 * (time.process_time() - cpu) / elapsed)}

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
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    await nc.close()
    return {"clients": clients, "codes_per_client": 10, "codes": len(CODES),
            **{"base_" + k: v for k, v in base.items()}, "target_p99_ms": 100, "ramp": ramp,
            "p99_passes_250ms_at_ticks_in_per_s": passed_at,
            "p99_under_250ms_up_to_ticks_in_per_s": None if passed_at else round(len(CODES) * hz / 2),
            "note": "clients share one Python process with the publisher: when clients_cpu_percent nears 100,"
                    " they, not the server, set the limit"}


def _recheck(res: Any, connections: int) -> dict[str, Any]:
    with db.service(res.pool) as conn:
        rows = conn.execute("INSERT INTO users (email, username, password_hash)"
                            " SELECT 'recheck' || i || '@bench.example', 'bench_recheck_' || i, 'not-a-login'"
                            " FROM generate_series(1, %s) i RETURNING id", (connections,)).fetchall()
    principals = [principal_from_claims(issue_access_token(res.settings, str(r["id"]), ["read"],
                                                           session_id=str(r["id"]))[1]) for r in rows]

    def cpu_ms() -> float:
        start = time.process_time()
        problems = still_standing(res, principals)
        spent = (time.process_time() - start) * 1000
        assert not any(problems)
        return spent

    cold = cpu_ms()
    warm = min(cpu_ms() for _ in range(5))
    return {"connections": connections, "users": connections, "cpu_ms_cold": round(cold, 1),
            "cpu_ms_warm": round(warm, 1), "cpu_us_per_connection_warm": round(1000 * warm / connections, 1)}


def _stream(res: Any, quick: bool) -> dict[str, Any]:
    import subprocess
    import sys
    settings = res.settings
    # The server checks the user at connect and every heartbeat: a real, active one.
    user = bench_user(res, "bench password that is long enough")
    token, _ = issue_access_token(settings, user["id"], ["read"], ttl=3600)
    port = free_port()
    # One user holds every connection here: lift the per-user cap (this measures fan-out).
    proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "stream", "--port", str(port)],
                            env=server_env(settings, STREAM_MAX_CONNECTIONS_PER_USER="100000"))
    try:
        wait_for_port(port, proc)
        rss_idle = _rss_mb(proc.pid)
        result = asyncio.run(asyncio.wait_for(
            _fan_out(settings, port, proc.pid, token, 200 if quick else 1000, 3.0 if quick else 10.0,
                     4 if quick else 32),
            300))
        return {"server_rss_idle_mb": round(rss_idle, 1), **result}
    finally:
        proc.terminate()
        proc.wait(10)


def run(quick: bool) -> dict[str, Any]:
    with temporary_resources("market") as res:
        out = {"collector": asyncio.run(_ingest(res.settings, res.pool, 5.0 if quick else 60.0)),
               "quote_snapshot": _quotes(res, 2 if quick else 10),
               "stream": _stream(res, quick),
               "stream_recheck": _recheck(res, 1000)}
    out["summary"] = {"collector_ticks_per_s": out["collector"]["ticks_per_second"],
                      "quotes_max_req_per_s": out["quote_snapshot"]["max_req_per_s_32_connections"],
                      "quotes_server_cpu_ms_per_request": out["quote_snapshot"]["server_cpu_ms_per_request"],
                      "quotes_p95_ms_at_1000": out["quote_snapshot"]["p95_ms_at_1000_req_per_s"],
                      "stream_p99_ms": out["stream"]["base_p99_ms"],
                      "stream_recheck_1000_cpu_ms_warm": out["stream_recheck"]["cpu_ms_warm"]}
    return out
