"""The local runtime: what the OpenFaaS gateway, its queue-worker and connectors do, on one
machine, for every function in `stack.yml` (`autostock dev`, used by `make run`).

Modules: `stack` (read and check stack.yml), `handlers` (import each function's handler),
`wsgi` (Flask glue shared with the template), `gateway` (the HTTP front), `calls` (async
calls on rq), `connectors` (cron and NATS), `extras` (other long-lived dev processes),
`supervisor` (the process tree), `commands` (CLI). Importing this package imports nothing heavy.
"""

from __future__ import annotations

import os

GATEWAY_THREADS = 4


def gateway_workers() -> int:
    """Two gunicorn workers per core. A request spends much of its time waiting on PostgreSQL
    while a process runs Python on one core at a time (the GIL), so one worker per core leaves
    the cores idle; and many threads in one process cost GIL hand-offs. On two cores, 4 workers
    x 4 threads spent about a fifth less CPU per order than 2 x 8 and placed more orders/s."""
    return 2 * (os.cpu_count() or 1)
