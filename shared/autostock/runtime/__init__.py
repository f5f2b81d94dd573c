"""The local runtime: what the OpenFaaS gateway, its queue-worker and connectors do, on one
machine, for every function in `stack.yml` (`autostock dev`, used by `make run`).

Modules: `stack` (read and check stack.yml), `handlers` (import each function's handler),
`wsgi` (Flask glue shared with the template), `gateway` (the HTTP front), `calls` (async
calls on rq), `connectors` (cron and NATS), `extras` (other long-lived dev processes),
`supervisor` (the process tree), `commands` (CLI). Importing this package imports nothing heavy.
"""

from __future__ import annotations

import os

GATEWAY_THREADS = 8


def gateway_workers() -> int:
    """One gateway worker process per core, each with GATEWAY_THREADS threads. Every process beyond
    the cores adds context switches and cold caches: on two cores, placing paper orders under
    32 clients, 2 workers x 8 threads spent about an eighth less server CPU per order (and 6 %
    less PostgreSQL CPU, with half the connections) than 4 x 4, in three interleaved
    rounds (docs/benchmarks.md). Eight threads keep the same 16 calls in flight per two cores
    while orders to network brokers wait on their round trips. Behind granian (runtime/server.py)
    2 x 8 again did as well as 2 x 4 and better than 2 x 16 or 3 x 6 (15-s wrk rounds)."""
    return os.cpu_count() or 1
