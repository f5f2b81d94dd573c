"""rq jobs: plain module-level functions taking ids and JSON values (convention 11).

Queues are connected explicitly, use `JSONSerializer`, and their names start with
`settings.redis_prefix` so parallel test runs and installs never share a queue. A job reads
its request from `backtest_results`, checks the row is still wanted (cancel flips its status),
reports progress there, and stores its result there: a failed job is a row with an error, not
a crash. Large sweeps are split into `optimize_chunk` jobs that any number of workers share,
and an `optimize_reduce` job, which depends on all of them, ranks the union.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from autostock.backtest import optimize as opt
from autostock.backtest import spec as specs
from autostock.backtest import store
from autostock.backtest.sources import source_for
from autostock.config import Settings
from autostock.errors import AppError

log = logging.getLogger("autostock.jobs")

BACKTEST_QUEUE = "backtest"
JOB_TIMEOUT = 3600
RESULT_TTL = 86_400
_lock = threading.Lock()
_connections: dict[str, redis.Redis] = {}


def connection(settings: Settings) -> redis.Redis:
    """rq needs bytes responses, so not the app's decode_responses client; one per URL per process."""
    url = settings.redis_url.reveal()
    with _lock:
        if url not in _connections:
            _connections[url] = redis.Redis.from_url(url, socket_connect_timeout=2)
        return _connections[url]


def queue(settings: Settings, name: str = BACKTEST_QUEUE) -> Queue:
    return Queue(settings.redis_prefix + name, connection=connection(settings), serializer=JSONSerializer,
                 default_timeout=JOB_TIMEOUT)


def _enqueue(settings: Settings, fn: str, *args: Any, **kwargs: Any) -> Job:
    return queue(settings).enqueue(fn, *args, result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, **kwargs)


def enqueue_run(settings: Settings, result_id: str) -> list[str]:
    return [_enqueue(settings, "autostock.jobs.backtest_run", result_id).id]


def enqueue_optimize(settings: Settings, result_id: str, spec: dict[str, Any], chunk: int) -> list[str]:
    """One job for a small sweep or a walk-forward; else chunks plus a reduce that waits for them."""
    combos = spec["combos"]
    if spec.get("walk_forward") or len(combos) <= chunk:
        return [_enqueue(settings, "autostock.jobs.optimize_run", result_id).id]
    parts = [combos[i:i + chunk] for i in range(0, len(combos), chunk)]
    jobs = [_enqueue(settings, "autostock.jobs.optimize_chunk", result_id, part, i, len(parts))
            for i, part in enumerate(parts)]
    reduce = _enqueue(settings, "autostock.jobs.optimize_reduce", result_id, [j.id for j in jobs],
                      depends_on=jobs)
    return [j.id for j in jobs] + [reduce.id]


def _resources() -> Any:
    from autostock.contract import current_resources  # the worker's process-wide resources
    return current_resources()


def _guarded(result_id: str, work: Any) -> dict[str, Any]:
    """Run `work(resources, row, progress)` for a row still wanted; record its outcome on the row."""
    res = _resources()
    row = store.request_of(res.pool, result_id)
    if row is None or not store.start(res.pool, result_id):
        return {"id": result_id, "status": "cancelled"}

    def progress(percent: int) -> bool:
        return store.progress(res.pool, result_id, percent)

    try:
        result = work(res, row, progress)
    except specs.Cancelled:
        return {"id": result_id, "status": "cancelled"}
    except AppError as e:
        store.finish(res.pool, result_id, error=e.to_dict()["error"])
        return {"id": result_id, "status": "failed"}
    except Exception:  # a failed job is data on the row; the trace goes to the worker's log
        log.exception("backtest job failed", extra={"result_id": result_id})
        store.finish(res.pool, result_id, error={"code": "internal_error", "message": "the job failed"})
        return {"id": result_id, "status": "failed"}
    if result is not None:
        store.finish(res.pool, result_id, result=result, summary=specs.summary_of(result))
    return {"id": result_id, "status": "done"}


def backtest_run(result_id: str) -> dict[str, Any]:
    return _guarded(result_id, lambda res, row, progress: specs.execute_run(
        row["request"], source_for(res.pool), progress))


def optimize_run(result_id: str) -> dict[str, Any]:
    return _guarded(result_id, lambda res, row, progress: specs.execute_optimize(
        row["request"], source_for(res.pool), progress))


def optimize_chunk(result_id: str, combos: list[dict[str, Any]], index: int, total: int) -> dict[str, Any]:
    """Evaluate one slice of a sweep; the rows go back through rq to `optimize_reduce`."""
    res = _resources()
    row = store.request_of(res.pool, result_id)
    if row is None or not store.start(res.pool, result_id):
        return {"rows": [], "cancelled": True}
    spec = row["request"]
    engine = specs.optimize_engine(spec, source_for(res.pool))
    rows = opt.evaluate(engine, combos, spec["objective"])
    done = connection(res.settings).incr(res.settings.redis_key("backtest", result_id, "chunks"))
    connection(res.settings).expire(res.settings.redis_key("backtest", result_id, "chunks"), RESULT_TTL)
    store.progress(res.pool, result_id, 95 * int(done) // total)
    return {"rows": rows, "index": index}


def optimize_reduce(result_id: str, chunk_job_ids: list[str]) -> dict[str, Any]:
    def work(res: Any, row: dict[str, Any], progress: Any) -> dict[str, Any] | None:
        jobs = Job.fetch_many(chunk_job_ids, connection=connection(res.settings), serializer=JSONSerializer)
        parts = sorted((j.return_value() for j in jobs if j is not None), key=lambda p: p.get("index", 0))
        if any(p.get("cancelled") for p in parts):
            return None
        rows = [r for p in parts for r in p["rows"]]
        return {"objective": row["request"]["objective"], "method": row["request"]["method"], **opt.rank(rows)}
    return _guarded(result_id, work)


def work(settings: Settings, *, burst: bool = False, simple: bool = False) -> int:
    """Run a worker on the backtest queue (`autostock worker`); SimpleWorker runs jobs in-process.

    Returns the process exit code (0), so the CLI can hand it straight back.
    """
    cls = SimpleWorker if simple else Worker
    worker = cls([queue(settings)], connection=connection(settings), serializer=JSONSerializer)
    worker.work(burst=burst, with_scheduler=False)
    return 0
