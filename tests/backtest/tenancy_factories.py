"""Backtest's entries in the tenancy registry (see tests/tenancy.py)."""

from psycopg.types.json import Jsonb

from autostock import db
from tests.tenancy import factory


def _result(resources, owner):
    with db.tenant(resources.pool, owner["id"]) as conn:
        row = conn.execute("INSERT INTO backtest_results (user_id, kind, status, strategy, symbols, request, summary,"
                           " result) VALUES (%s, 'run', 'queued', 'sma_cross', '{005930}', %s, %s, %s) RETURNING id",
                           (owner["id"], Jsonb({}), Jsonb({}), Jsonb({}))).fetchone()
    return {"result_id": str(row["id"])}


for _path in ("/api/v1/backtest/results/{result_id}", "/api/v1/backtest/results/{result_id}/cancel",
              "/api/v1/backtest/results/{result_id}/chart"):
    factory(_path)(_result)


def _deployment(resources, owner):
    # Through the domain, on the owner's own paper account, and paused: an active deployment
    # here would be evaluated by every later market-clock test in this run.
    from autostock.backtest import deployments
    _, made = deployments.deploy(resources, owner["id"], {"strategy": "sma_cross", "symbol": "005930",
                                                          "capital_cap": 1_000_000})
    deployments.set_status(resources, owner["id"], made["id"], "paused")
    return {"deployment_id": made["id"]}


for _path in ("/api/v1/strategies/{deployment_id}", "/api/v1/strategies/{deployment_id}/pause",
              "/api/v1/strategies/{deployment_id}/resume", "/api/v1/strategies/{deployment_id}/evaluations"):
    factory(_path)(_deployment)
