"""`backtest_results` rows: what the API and the workers read and write (migration 0500).

The caller's own rows go through `db.tenant` (row-level security), so another user's id
simply is not found. Workers update rows through `db.service`, and every update a running job
makes is conditional on the row still being 'running': a cancel flips the status, the next
progress update finds nothing to change, and the job stops.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from autostock import db
from autostock.errors import Conflict, NotFound, ValidationError

LIST_COLUMNS = ("id, kind, status, progress, strategy, symbols, summary, error, created_at, updated_at, "
                "finished_at")
FINAL = ("done", "failed", "cancelled")


def check_id(value: str, what: str = "backtest result", code: str = "result_not_found") -> str:
    """A path id as a UUID; anything else is simply not found (never a 500)."""
    try:
        return str(UUID(value))
    except (ValueError, TypeError) as e:
        raise NotFound(f"no such {what}", code=code) from e


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["id"] = str(out["id"])
    for k in ("created_at", "updated_at", "finished_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    return out


def create(pool: Any, user_id: str, *, kind: str, strategy: str, symbols: list[str], request: dict[str, Any],
           status: str = "queued", result: dict[str, Any] | None = None,
           summary: dict[str, Any] | None = None) -> dict[str, Any]:
    done = status == "done"
    with db.tenant(pool, user_id) as conn:
        row = conn.execute(
            "INSERT INTO backtest_results (user_id, kind, status, progress, strategy, symbols, request, summary,"
            " result, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)"
            f" RETURNING {LIST_COLUMNS}",
            (user_id, kind, status, 100 if done else 0, strategy, symbols, Jsonb(request),
             Jsonb(summary) if summary is not None else None, Jsonb(result) if result is not None else None,
             done)).fetchone()
    return _public(row)


def get(pool: Any, user_id: str, result_id: str, *, full: bool = True) -> dict[str, Any]:
    cols = LIST_COLUMNS + (", request, result" if full else "")
    with db.tenant(pool, user_id) as conn:
        row = conn.execute(f"SELECT {cols} FROM backtest_results WHERE id = %s", (check_id(result_id),)).fetchone()
    if row is None:
        raise NotFound("no such backtest result", code="result_not_found")
    return _public(row)


def listing(pool: Any, user_id: str, *, limit: int = 50, before: str | None = None) -> list[dict[str, Any]]:
    if not 1 <= limit <= 200:
        raise ValidationError("limit must be within 1..200", code="invalid_argument")
    with db.tenant(pool, user_id) as conn:
        rows = conn.execute(
            f"SELECT {LIST_COLUMNS} FROM backtest_results"
            " WHERE created_at < coalesce(%s::timestamptz, 'infinity') ORDER BY created_at DESC LIMIT %s",
            (before, limit)).fetchall()
    return [_public(r) for r in rows]


def delete(pool: Any, user_id: str, result_id: str) -> None:
    with db.tenant(pool, user_id) as conn:
        row = conn.execute("DELETE FROM backtest_results WHERE id = %s RETURNING status",
                           (check_id(result_id),)).fetchone()
    if row is None:
        raise NotFound("no such backtest result", code="result_not_found")


def cancel(pool: Any, user_id: str, result_id: str) -> dict[str, Any]:
    with db.tenant(pool, user_id) as conn:
        row = conn.execute(
            "UPDATE backtest_results SET status = 'cancelled', updated_at = now(), finished_at = now()"
            " WHERE id = %s AND status IN ('queued', 'running') RETURNING id, job_ids", (check_id(result_id),)
        ).fetchone()
    if row is None:
        current = get(pool, user_id, result_id, full=False)
        raise Conflict(f"the backtest is already {current['status']}", code="not_cancellable")
    return {"id": str(row["id"]), "job_ids": row["job_ids"]}


def set_jobs(pool: Any, result_id: str, job_ids: list[str]) -> None:
    with db.service(pool) as conn:
        conn.execute("UPDATE backtest_results SET job_ids = %s WHERE id = %s", (job_ids, result_id))


def request_of(pool: Any, result_id: str) -> dict[str, Any] | None:
    """A worker's view of a row (any owner): its request, status and owner."""
    with db.service(pool) as conn:
        return conn.execute("SELECT id, user_id, kind, status, strategy, symbols, request FROM backtest_results"
                            " WHERE id = %s", (result_id,)).fetchone()


def start(pool: Any, result_id: str) -> bool:
    """queued → running; False when it was cancelled (or already taken) meanwhile."""
    with db.service(pool) as conn:
        row = conn.execute("UPDATE backtest_results SET status = 'running', updated_at = now()"
                           " WHERE id = %s AND status IN ('queued', 'running') RETURNING id", (result_id,)).fetchone()
    return row is not None


def progress(pool: Any, result_id: str, percent: int) -> bool:
    """Record progress (never backwards); False when the row is no longer running (cancelled)."""
    with db.service(pool) as conn:
        row = conn.execute(
            "UPDATE backtest_results SET progress = greatest(progress, %s), updated_at = now()"
            " WHERE id = %s AND status = 'running' RETURNING id", (max(0, min(99, percent)), result_id)).fetchone()
    return row is not None


def finish(pool: Any, result_id: str, *, result: dict[str, Any] | None = None,
           summary: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> bool:
    status = "failed" if error else "done"
    with db.service(pool) as conn:
        row = conn.execute(
            "UPDATE backtest_results SET status = %s, progress = CASE WHEN %s = 'done' THEN 100 ELSE progress END,"
            " result = %s, summary = %s, error = %s, updated_at = now(), finished_at = now()"
            " WHERE id = %s AND status = 'running' RETURNING id",
            (status, status, Jsonb(result) if result is not None else None,
             Jsonb(summary) if summary is not None else None, Jsonb(error) if error is not None else None,
             result_id)).fetchone()
    return row is not None
