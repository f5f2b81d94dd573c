"""Load generators for HTTP benchmarks on loopback: in plain threads, and raw on asyncio.

`open_loop` offers a constant rate whatever the server does, and measures each latency from
the request's scheduled time (so a slow server's queueing shows, unlike a closed loop).
`closed_users` simulates users who wait 1-3 s between calls (locust's `between(1, 3)`),
each picking a task by weight; latencies are also measured from the scheduled time.
`open_loop_raw`, `closed_loop_raw` and `wrk` are for servers fast enough that a threaded
client would be the bottleneck; `process_tree_cpu` gives a server's CPU cost per request.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import random
import re
import resource
import shutil
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def _order_body(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def open_loop(url: str, traders: list[dict[str, str]], *, rate: int, seconds: int,
              body: dict[str, Any], workers: int = 96) -> tuple[dict[str, Any], list[str]]:
    """POST orders at `rate` per second for `seconds`; returns (stats, ids of created orders)."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    ids: list[str] = []
    lock = threading.Lock()
    payload = _order_body(body)

    def send(i: int, scheduled: float) -> None:
        trader = traders[(i * 7919) % len(traders)]
        try:
            reply = _session().post(url + "/api/v1/trading/orders", json=payload, timeout=30,
                                    headers={"Authorization": f"Bearer {trader['token']}"})
            code = reply.status_code
            oid = reply.json().get("id", "") if code == 201 else ""
        except requests.RequestException:
            code, oid = 0, ""
        took = time.perf_counter() - scheduled
        with lock:
            latencies.append(took)
            statuses[code] += 1
            if oid:
                ids.append(oid)

    total = rate * seconds
    start = time.perf_counter() + 0.2
    pool = ThreadPoolExecutor(max_workers=workers)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pool.submit(send, i, scheduled)
    # A saturated server leaves a queue behind: give it a grace period, then drop what never
    # left the client (counted as not sent) so the run stays bounded.
    time.sleep(min(10.0, seconds / 2))
    pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - start
    answered = sum(statuses.values())
    return ({"offered_per_s": rate, "seconds": seconds, "offered": total, "answered": answered,
             "not_sent_server_saturated": total - answered,
             "answered_per_s": round(answered / elapsed, 1), "statuses": dict(statuses),
             "latency_ms_answered": percentiles(latencies)}, ids)


def closed_users(url: str, traders: list[dict[str, str]], *, seconds: int, order: dict[str, Any],
                 quote_path: str | None, users: int = 1000, workers: int = 128,
                 seed: int = 7) -> tuple[dict[str, Any], list[str]]:
    """`users` simulated users (1-3 s between calls): portfolio 3 : quote 2 : order 1."""
    rng = random.Random(seed)
    payload = _order_body(order)
    tasks: list[tuple[str, int, Callable[[requests.Session, dict[str, str]], requests.Response]]] = [
        ("GET /api/v1/portfolio/summary", 3,
         lambda s, t: s.get(url + "/api/v1/portfolio/summary", timeout=30,
                            headers={"Authorization": f"Bearer {t['token']}"})),
        ("POST /api/v1/trading/orders", 1,
         lambda s, t: s.post(url + "/api/v1/trading/orders", json=payload, timeout=30,
                             headers={"Authorization": f"Bearer {t['token']}"})),
    ]
    if quote_path:
        tasks.append((f"GET {quote_path}", 2,
                      lambda s, t: s.get(url + quote_path, timeout=30,
                                         headers={"Authorization": f"Bearer {t['token']}"})))
    names = [name for name, _, _ in tasks]
    weights = [w for _, w, _ in tasks]
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    ids: list[str] = []
    lock = threading.Lock()
    heap: list[tuple[float, int]] = []
    start = time.perf_counter()
    end = start + seconds
    for user in range(users):
        heapq.heappush(heap, (start + rng.uniform(0, 2), user))

    def act(user: int, scheduled: float) -> None:
        with lock:
            index = rng.choices(range(len(tasks)), weights)[0]
        name, _, call = tasks[index]
        try:
            reply = call(_session(), traders[user % len(traders)])
            code = reply.status_code
            oid = reply.json().get("id", "") if code == 201 and name.startswith("POST") else ""
        except requests.RequestException:
            code, oid = 0, ""
        done = time.perf_counter()
        with lock:
            latencies[name].append(done - scheduled)
            statuses[name][code] += 1
            if oid:
                ids.append(oid)
            heapq.heappush(heap, (done + rng.uniform(1, 3), user))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            with lock:
                due = []
                while heap and heap[0][0] <= now:
                    due.append(heapq.heappop(heap))
                wait = heap[0][0] - now if heap else 0.01
            for scheduled, user in due:
                pool.submit(act, user, scheduled)
            time.sleep(min(max(wait, 0.0), 0.01))
    elapsed = time.perf_counter() - start
    count = sum(len(v) for v in latencies.values())
    return ({"users": users, "seconds": round(elapsed, 1), "requests": count,
             "requests_per_s": round(count / elapsed, 1),
             "endpoints": {n: {"requests": len(latencies[n]), "statuses": dict(statuses[n]),
                               "latency_ms": percentiles(latencies[n])} for n in names}}, ids)


# ---- raw HTTP/1.1 on asyncio: no client library between the clock and the socket ---------
# For servers fast enough that a threaded `requests` client would be the bottleneck (GET
# /auth/me, quote-snapshot): one event loop, keep-alive connections, pre-built requests.

def raw_request(method: str, path: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """One HTTP/1.1 request as bytes, ready to write to a keep-alive connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}",
             *[f"{k}: {v}" for k, v in headers.items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)


class RawConnection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads one whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body) of `raw`'s response; the server must send Content-Length."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = _LENGTH.search(head)
        body = await self.reader.readexactly(int(length.group(1))) if length else b""
        return int(head[9:12]), body


async def connect_raw(port: int, n: int) -> list[RawConnection]:
    pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    return [RawConnection(r, w) for r, w in pairs]


async def closed_loop_raw(port: int, raw: bytes, connections: int, seconds: float) -> dict[str, Any]:
    """`connections` clients, each sending `raw` again as soon as its answer is in."""
    conns = await connect_raw(port, connections)
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def worker(conn: RawConnection) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop:
            status, _ = await conn.call(raw)
            done += 1
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.writer.close()
    return {"requests": done, "rps": done / elapsed, "errors": errors}


async def open_loop_raw(port: int, raws: Sequence[bytes], *, rate: int, seconds: float, connections: int = 64,
                        accept: Callable[[bytes], bool] | None = None) -> dict[str, Any]:
    """Offer `rate` requests a second for `seconds` (cycling through `raws`) and measure each
    latency from its scheduled send time, so queueing behind a slow answer counts (no
    coordinated omission, as wrk2 does it). An answer is an error unless it is a 200 whose
    body `accept`s (when given)."""
    idle: asyncio.Queue[RawConnection] = asyncio.Queue()
    for c in await connect_raw(port, connections):
        idle.put_nowait(c)
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal errors
        conn = await idle.get()
        status, body = await conn.call(raw)
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200 or (accept is not None and not accept(body))
        idle.put_nowait(conn)

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(raws[i % len(raws)], scheduled)))
    await asyncio.gather(*tasks)
    achieved = total / (time.perf_counter() - start)
    while not idle.empty():
        idle.get_nowait().writer.close()
    ms = percentiles(latencies)
    return {"offered_rps": rate, "achieved_rps": round(achieved, 1), "p50_ms": ms["p50"], "p95_ms": ms["p95"],
            "p99_ms": ms["p99"], "max_ms": round(max(latencies) * 1000, 2), "errors": errors}


def wrk(url: str, *, connections: int, seconds: int, headers: dict[str, str] | None = None,
        script: str | None = None) -> dict[str, Any]:
    """wrk's closed loop (2 threads) against `url`; `script` is a Lua file (e.g. varying paths).
    Also the CPU wrk itself used, so a run on a shared machine can tell the client's share."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (make bench installs the Debian package)")
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
    """CPU seconds (user + system, all threads) used so far by `pid` and its live children:
    a server's cost per request that does not depend on what else the machine is doing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue  # a worker that exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / tick   # utime, stime
    return total


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out
