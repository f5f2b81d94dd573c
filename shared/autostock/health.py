"""Platform health: can each data service be reached, and which version answers."""

from __future__ import annotations

import time
from typing import Any

from autostock.resources import Resources


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        version = check()
        return {"ok": True, "version": version, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    except Exception as e:  # health reports failures instead of raising them
        return {"ok": False, "error": type(e).__name__}


def check(resources: Resources) -> dict[str, Any]:
    """Reachability and versions of PostgreSQL, Redis and NATS; `ok` only when all answer."""

    def postgres() -> str:
        with resources.pool.connection(timeout=2) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row["server_version"])

    def redis_version() -> str:
        return str(resources.redis.info("server")["redis_version"])

    services = {
        "postgres": _timed(postgres),
        "redis": _timed(redis_version),
        "nats": _timed(resources.events.server_version),
    }
    return {"ok": all(s["ok"] for s in services.values()), "services": services}
