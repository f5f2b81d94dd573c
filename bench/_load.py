"""Load generators for HTTP benchmarks on loopback, in plain threads.

`open_loop` offers a constant rate whatever the server does, and measures each latency from
the request's scheduled time (so a slow server's queueing shows, unlike a closed loop).
`closed_users` simulates users who wait 1-3 s between calls (locust's `between(1, 3)`),
each picking a task by weight; latencies are also measured from the scheduled time.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
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
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i, scheduled)
    elapsed = time.perf_counter() - start
    return ({"offered_per_s": rate, "seconds": seconds, "requests": total,
             "achieved_per_s": round(total / elapsed, 1), "statuses": dict(statuses),
             "latency_ms": percentiles(latencies)}, ids)


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
