"""The `run-backtest` use cases: one call per route, each returning (status, body dict).

Small requests run at once and answer 200 with the stored result; large ones are stored as
'queued', handed to rq, and answer 202 with the id to poll (progress, cancel). Every row
belongs to its caller; another user's id is "not found".
"""

from __future__ import annotations

from typing import Any

from autostock import jobs
from autostock.backtest import spec as specs
from autostock.backtest import store
from autostock.backtest.chart import equity_svg
from autostock.backtest.sources import source_for
from autostock.backtest.strategies import catalogue
from autostock.errors import ValidationError

SYNC_BARS = 60_000           # bars × symbols a run may take synchronously
SYNC_BAR_RUNS = 2_000_000    # bars × combinations an optimisation may take synchronously
CHUNK = 25                   # combinations per rq job in a parallel sweep


def strategies() -> tuple[int, dict[str, Any]]:
    return 200, {"items": catalogue()}


def _wants_async(spec: dict[str, Any], work: int, limit: int) -> bool:
    return spec["async"] if spec.get("async") is not None else work > limit


def run(resources: Any, user_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    spec = specs.parse_run(body)
    if not _wants_async(spec, specs.estimated_bars(spec), SYNC_BARS):
        result = specs.execute_run(spec, source_for(resources.pool))
        row = store.create(resources.pool, user_id, kind="run", strategy=spec["strategy"], symbols=spec["symbols"],
                           request=spec, status="done", result=result, summary=specs.summary_of(result))
        return 200, {**row, "result": result}
    row = store.create(resources.pool, user_id, kind="run", strategy=spec["strategy"], symbols=spec["symbols"],
                       request=spec)
    store.set_jobs(resources.pool, row["id"], jobs.enqueue_run(resources.settings, row["id"]))
    return 202, row


def optimize(resources: Any, user_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    spec = specs.parse_optimize(body)
    kind = "walk_forward" if spec.get("walk_forward") else "optimize"
    work = specs.estimated_bars(spec) * len(spec["combos"])
    if not _wants_async(spec, work, SYNC_BAR_RUNS):
        result = specs.execute_optimize(spec, source_for(resources.pool))
        row = store.create(resources.pool, user_id, kind=kind, strategy=spec["strategy"], symbols=spec["symbols"],
                           request=spec, status="done", result=result, summary=specs.summary_of(result))
        return 200, {**row, "result": result}
    row = store.create(resources.pool, user_id, kind=kind, strategy=spec["strategy"], symbols=spec["symbols"],
                       request=spec)
    store.set_jobs(resources.pool, row["id"], jobs.enqueue_optimize(resources.settings, row["id"], spec, CHUNK))
    return 202, row


def results(resources: Any, user_id: str, limit: str | None) -> tuple[int, dict[str, Any]]:
    try:
        n = int(limit) if limit is not None else 50
    except ValueError as e:
        raise ValidationError("limit must be an integer", code="invalid_argument") from e
    return 200, {"items": store.listing(resources.pool, user_id, limit=n)}


def result(resources: Any, user_id: str, result_id: str) -> tuple[int, dict[str, Any]]:
    return 200, store.get(resources.pool, user_id, result_id)


def delete(resources: Any, user_id: str, result_id: str) -> tuple[int, dict[str, Any]]:
    store.delete(resources.pool, user_id, result_id)
    return 200, {"id": result_id, "deleted": True}


def cancel(resources: Any, user_id: str, result_id: str) -> tuple[int, dict[str, Any]]:
    done = store.cancel(resources.pool, user_id, result_id)
    return 200, {"id": done["id"], "status": "cancelled"}


def chart(resources: Any, user_id: str, result_id: str) -> tuple[int, str, dict[str, str]]:
    """The equity and drawdown curves of a finished run as SVG."""
    row = store.get(resources.pool, user_id, result_id)
    data = row.get("result") or {}
    curve = data.get("curve") or ((data.get("runs") or [{}])[0]).get("curve")
    if not curve:
        raise ValidationError("this result has no equity curve (not finished, or an optimisation)",
                              code="no_chart")
    title = f"{row['strategy']} {' '.join(row['symbols'][:5])}"
    svg = equity_svg(curve["dates"], curve["equity"], curve["drawdown"], title=title)
    return 200, svg, {"Content-Type": "image/svg+xml"}
