"""Load generators for HTTP benchmarks on loopback: asyncio over raw keep-alive sockets.

The server under test shares two cores with its load: a client that spends a millisecond of
CPU per request (threads + `requests`) takes a third of what it measures. Here one event loop
writes prepared request bytes and reads whole responses, a few tens of microseconds a call.

`open_loop` (orders) and `open_loop_raw` (any prepared requests) offer a constant rate
whatever the server does, and measure each latency from the request's scheduled time (so a
slow server's queueing shows, unlike a closed loop, as wrk2 does it). `closed_users`
simulates users who wait 1-3 s between calls (locust's `between(1, 3)`), each picking a task
by weight; latencies are also measured from the scheduled time. `closed_loop_raw` and `wrk`
are closed loops; `process_tree_cpu` gives a server's CPU cost per request.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bench._cpu import cpu_seconds, tree

ORDERS = "/api/v1/trading/orders"


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def request(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             *[f"{k}: {v}" for k, v in headers.items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads one whole response."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, raw: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection failed or timed out (it reconnects for
        the next call)."""
        try:
            return await asyncio.wait_for(self._call(raw), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            return 0, b""

    async def _call(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = _LENGTH.search(head)
        body = await self.reader.readexactly(int(length.group(1))) if length else b""
        return int(head[9:12]), body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def connect(host: str, port: int, n: int) -> list[Connection]:
    conns = [Connection(host, port) for _ in range(n)]
    for c in conns:
        c.reader, c.writer = await asyncio.open_connection(host, port)
    return conns


@dataclass(frozen=True)
class Reply:
    index: int
    status: int
    body: bytes
    latency: float      # seconds from the scheduled send time to the whole response


@dataclass(frozen=True)
class OpenLoopRun:
    replies: list[Reply]
    offered: int
    not_sent: int       # still waiting for a connection when the grace period ended
    elapsed: float


async def run_open_loop(url: str, make: Callable[[int, str], bytes], *, rate: int, seconds: float,
                        connections: int = 64, grace: float | None = None) -> OpenLoopRun:
    """Send `make(i, host)` at `rate`/s for `seconds` over `connections` keep-alive connections.

    A saturated server leaves a queue behind: after the schedule, requests still waiting for a
    connection get a grace period (default min(10, seconds/2)) and are then dropped as not
    sent; requests already sent are always read to the end, so every order the server made is
    in the replies (the benchmarks count rows against 201s)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in await connect(host, port, connections):
        idle.put_nowait(c)
    replies: list[Reply] = []
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    queued: set[int] = set()   # scheduled, still waiting for a connection

    async def one(i: int, scheduled: float) -> None:
        queued.add(i)
        try:
            conn = await idle.get()
        finally:
            queued.discard(i)
        status, body = await conn.call(make(i, f"{host}:{port}"))
        replies.append(Reply(i, status, body, time.perf_counter() - scheduled))
        idle.put_nowait(conn)

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, scheduled)))
    await asyncio.wait(tasks, timeout=min(10.0, seconds / 2) if grace is None else grace)
    for i in list(queued):
        tasks[i].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    while not idle.empty():
        idle.get_nowait().close()
    return OpenLoopRun(replies, total, total - len(replies), time.perf_counter() - start)


def _order_body(body: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def _created_id(status: int, body: bytes) -> str:
    return json.loads(body).get("id", "") if status == 201 else ""


def open_loop(url: str, traders: list[dict[str, str]], *, rate: int, seconds: int,
              body: dict[str, Any], connections: int = 64) -> tuple[dict[str, Any], list[str]]:
    """POST orders at `rate` per second for `seconds`; returns (stats, ids of created orders)."""
    payload = _order_body(body)

    def make(i: int, host: str) -> bytes:
        trader = traders[(i * 7919) % len(traders)]
        return request("POST", ORDERS, host, {"Authorization": f"Bearer {trader['token']}",
                                              "Content-Type": "application/json"}, payload)

    run = asyncio.run(run_open_loop(url, make, rate=rate, seconds=seconds, connections=connections))
    statuses = Counter(r.status for r in run.replies)
    ids = [i for i in (_created_id(r.status, r.body) for r in run.replies) if i]
    return ({"offered_per_s": rate, "seconds": seconds, "offered": run.offered, "answered": len(run.replies),
             "not_sent_server_saturated": run.not_sent,
             "answered_per_s": round(len(run.replies) / run.elapsed, 1), "statuses": dict(statuses),
             "latency_ms_answered": percentiles([r.latency for r in run.replies])}, ids)


def closed_users(url: str, traders: list[dict[str, str]], *, seconds: int, order: dict[str, Any],
                 quote_path: str | None, users: int = 1000, connections: int = 128,
                 seed: int = 7) -> tuple[dict[str, Any], list[str]]:
    """`users` simulated users (1-3 s between calls): portfolio 3 : quote 2 : order 1."""
    return asyncio.run(_closed_users(url, traders, seconds=seconds, order=order, quote_path=quote_path,
                                     users=users, connections=connections, seed=seed))


async def _closed_users(url: str, traders: list[dict[str, str]], *, seconds: int, order: dict[str, Any],
                        quote_path: str | None, users: int, connections: int,
                        seed: int) -> tuple[dict[str, Any], list[str]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    address = f"{host}:{port}"
    rng = random.Random(seed)
    payload = _order_body(order)

    def auth(trader: dict[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {trader['token']}"}

    tasks: list[tuple[str, int, Callable[[dict[str, str]], bytes]]] = [
        ("GET /api/v1/portfolio/summary", 3,
         lambda t: request("GET", "/api/v1/portfolio/summary", address, auth(t))),
        (f"POST {ORDERS}", 1,
         lambda t: request("POST", ORDERS, address, {**auth(t), "Content-Type": "application/json"}, payload)),
    ]
    if quote_path:
        tasks.append((f"GET {quote_path}", 2, lambda t: request("GET", quote_path, address, auth(t))))
    names = [name for name, _, _ in tasks]
    weights = [w for _, w, _ in tasks]
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    ids: list[str] = []
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in await connect(host, port, connections):
        idle.put_nowait(c)
    start = time.perf_counter()
    end = start + seconds

    async def user(n: int) -> None:
        trader = traders[n % len(traders)]
        scheduled = start + rng.uniform(0, 2)
        while scheduled < end:
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            name, _, make = tasks[rng.choices(range(len(tasks)), weights)[0]]
            conn = await idle.get()
            status, body = await conn.call(make(trader))
            idle.put_nowait(conn)
            done = time.perf_counter()
            latencies[name].append(done - scheduled)
            statuses[name][status] += 1
            if name.startswith("POST") and (oid := _created_id(status, body)):
                ids.append(oid)
            scheduled = done + rng.uniform(1, 3)

    await asyncio.gather(*(user(n) for n in range(users)))
    while not idle.empty():
        idle.get_nowait().close()
    elapsed = time.perf_counter() - start
    count = sum(len(v) for v in latencies.values())
    return ({"users": users, "seconds": round(elapsed, 1), "requests": count,
             "requests_per_s": round(count / elapsed, 1),
             "endpoints": {n: {"requests": len(latencies[n]), "statuses": dict(statuses[n]),
                               "latency_ms": percentiles(latencies[n])} for n in names}}, ids)


# ---- prepared requests to one local port (GET /auth/me, quote-snapshot) -------------------

def raw_request(method: str, path: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """`request` for a server on 127.0.0.1:`port`."""
    return request(method, path, f"127.0.0.1:{port}", headers, body)


async def closed_loop_raw(port: int, raw: bytes, connections: int, seconds: float) -> dict[str, Any]:
    """`connections` clients, each sending `raw` again as soon as its answer is in."""
    conns = await connect("127.0.0.1", port, connections)
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def worker(conn: Connection) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop:
            status, _ = await conn.call(raw)
            done += 1
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return {"requests": done, "rps": done / elapsed, "errors": errors}


async def open_loop_raw(port: int, raws: Sequence[bytes], *, rate: int, seconds: float, connections: int = 64,
                        accept: Callable[[bytes], bool] | None = None) -> dict[str, Any]:
    """`run_open_loop` over `raws` (cycled). An answer is an error unless it is a 200 whose
    body `accept`s (when given); a request never sent (saturated server) is an error too."""
    run = await run_open_loop(f"http://127.0.0.1:{port}", lambda i, host: raws[i % len(raws)], rate=rate,
                              seconds=seconds, connections=connections, grace=30.0)
    errors = run.not_sent + sum(r.status != 200 or (accept is not None and not accept(r.body))
                                for r in run.replies)
    latencies = [r.latency for r in run.replies]
    ms = percentiles(latencies)
    return {"offered_rps": rate, "achieved_rps": round(len(run.replies) / run.elapsed, 1), "p50_ms": ms["p50"],
            "p95_ms": ms["p95"], "p99_ms": ms["p99"],
            "max_ms": round(max(latencies) * 1000, 2) if latencies else None, "errors": errors}


def require_wrk() -> None:
    """Fail before any set-up when wrk is missing (`make bench` installs the Debian package)."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (make bench installs the Debian package)")


def wrk(url: str, *, connections: int, seconds: int, headers: dict[str, str] | None = None,
        script: str | None = None) -> dict[str, Any]:
    """wrk's closed loop (2 threads) against `url`; `script` is a Lua file (e.g. varying paths).
    Also the CPU wrk itself used, so a run on a shared machine can tell the client's share."""
    require_wrk()
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    total = re.search(r"(\d+) requests in", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out.stdout)
    socket_errors = re.search(r"Socket errors:.*", out.stdout)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"rps": float(rps.group(1)) if rps else 0.0, "requests": int(total.group(1)) if total else 0,
            "errors": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": socket_errors.group(0) if socket_errors else None, "cpu_seconds": round(cpu, 3)}


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by `pid` and its descendants (a server and its workers): a
    cost per request that does not depend on what else the machine is doing."""
    return sum(cpu_seconds(p) for p in tree(pid))
