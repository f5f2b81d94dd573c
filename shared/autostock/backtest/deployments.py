"""Live strategy deployments (the `strategies` function): deploy, list, pause/resume, delete, log.

A deployment is a backtest strategy with fixed params, one symbol, one of the caller's
accounts and a capital cap. `backtest.live` evaluates the active ones from market-clock.
"""

from __future__ import annotations

from typing import Any
from psycopg.types.json import Jsonb

from autostock import accounts, db
from autostock.backtest.engine import strategy_class
from autostock.backtest.sources import check_symbol
from autostock.backtest.store import check_id
from autostock.contract import require_fields
from autostock.errors import NotFound, ValidationError

COLUMNS = "id, account_id, strategy, params, symbol, capital_cap, schedule, status, created_at, updated_at"


def _id(value: str) -> str:
    return check_id(value, "strategy deployment", "deployment_not_found")


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in ("id", "account_id"):
        if k in out:
            out[k] = str(out[k])
    for k in ("created_at", "updated_at", "evaluated_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    if out.get("bar_date") is not None:
        out["bar_date"] = out["bar_date"].isoformat()
    return out


def deploy(resources: Any, user_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    data = require_fields(body, {"strategy": str, "symbol": str, "capital_cap": int},
                          {"params": dict, "account_id": str, "schedule": str})
    cls = strategy_class(data["strategy"], allow_import=False)
    if cls.universe:
        raise ValidationError("live deployments take single-symbol strategies for now",
                              code="unsupported_strategy")
    params = cls.resolve(data.get("params") or {})
    if data["capital_cap"] <= 0:
        raise ValidationError("capital_cap must be a positive KRW amount", code="invalid_argument",
                              details={"field": "capital_cap"})
    if data.get("schedule", "open") != "open":
        raise ValidationError("schedule must be 'open' (evaluate on the last bar at the next session's open)",
                              code="invalid_argument", details={"field": "schedule"})
    account = (accounts.get_account(resources, user_id, data["account_id"]) if data.get("account_id")
               else accounts.default_account(resources, user_id))
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(
            "INSERT INTO strategy_deployments (user_id, account_id, strategy, params, symbol, capital_cap)"
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
            (user_id, str(account["id"]), cls.name, Jsonb(params), check_symbol(data["symbol"]),
             data["capital_cap"])).fetchone()
    return 201, _view(row)


def listing(resources: Any, user_id: str) -> tuple[int, dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(f"SELECT {COLUMNS} FROM strategy_deployments ORDER BY created_at DESC").fetchall()
    return 200, {"items": [_view(r) for r in rows]}


def get(resources: Any, user_id: str, deployment_id: str) -> tuple[int, dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(f"SELECT {COLUMNS} FROM strategy_deployments WHERE id = %s",
                           (_id(deployment_id),)).fetchone()
    if row is None:
        raise NotFound("no such strategy deployment", code="deployment_not_found")
    return 200, _view(row)


def set_status(resources: Any, user_id: str, deployment_id: str, status: str) -> tuple[int, dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(f"UPDATE strategy_deployments SET status = %s, updated_at = now() WHERE id = %s"
                           f" RETURNING {COLUMNS}", (status, _id(deployment_id))).fetchone()
    if row is None:
        raise NotFound("no such strategy deployment", code="deployment_not_found")
    return 200, _view(row)


def delete(resources: Any, user_id: str, deployment_id: str) -> tuple[int, dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute("DELETE FROM strategy_deployments WHERE id = %s RETURNING id",
                           (_id(deployment_id),)).fetchone()
    if row is None:
        raise NotFound("no such strategy deployment", code="deployment_not_found")
    return 200, {"id": deployment_id, "deleted": True}


def evaluations(resources: Any, user_id: str, deployment_id: str, limit: str | None) -> tuple[int, dict[str, Any]]:
    get(resources, user_id, deployment_id)
    n = int(limit) if limit and limit.isdigit() else 100
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT bar_date, evaluated_at, target, orders, error FROM strategy_evaluations"
            " WHERE deployment_id = %s ORDER BY bar_date DESC LIMIT %s", (_id(deployment_id), min(n, 500))).fetchall()
    return 200, {"items": [_view(r) for r in rows]}
