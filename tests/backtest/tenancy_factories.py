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
    with db.tenant(resources.pool, owner["id"]) as conn:
        # Paused: the market-clock task of other tests must not evaluate it.
        row = conn.execute("INSERT INTO strategy_deployments (user_id, account_id, strategy, params, symbol,"
                           " capital_cap, status) VALUES (%s, gen_random_uuid(), 'sma_cross', %s, '005930', 1000000,"
                           " 'paused')"
                           " RETURNING id", (owner["id"], Jsonb({"fast": 10, "slow": 30}))).fetchone()
    return {"deployment_id": str(row["id"])}


for _path in ("/api/v1/strategies/{deployment_id}", "/api/v1/strategies/{deployment_id}/pause",
              "/api/v1/strategies/{deployment_id}/resume", "/api/v1/strategies/{deployment_id}/evaluations"):
    factory(_path)(_deployment)
