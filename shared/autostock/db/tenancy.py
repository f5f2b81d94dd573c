"""Transactions scoped to a tenant, with row-level security doing the second check.

Every tenant table has `user_id` and a policy `user_id = app_user_id()`. `tenant()` switches
the transaction to the `autostock_app` role (never a superuser, never the owner, so RLS
applies even when the pool logs in as the owner) and sets `app.user_id` for that
transaction only. A query that forgets its `WHERE user_id = ...` then sees nothing of
anybody else. `service()` is for platform internals and admins (role `autostock_service`,
whose policies see every row).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

APP_ROLE = "autostock_app"
SERVICE_ROLE = "autostock_service"


# `set_config('role', ..., true)` is `SET LOCAL ROLE` as a function (PostgREST switches roles
# the same way), so the role and the tenant take one round trip, not two.
_AS_TENANT = "SELECT set_config('role', %s, true), set_config('app.user_id', %s, true)"
_AS_SERVICE = "SELECT set_config('role', %s, true)"


@contextmanager
def tenant(pool: ConnectionPool, user_id: UUID | str) -> Iterator[psycopg.Connection]:
    """One transaction as `user_id`: commits when the block ends, rolls back on error."""
    with pool.connection() as conn:
        with conn.transaction():
            conn.execute(_AS_TENANT, (APP_ROLE, str(user_id)))
            yield conn


@contextmanager
def service(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """One transaction with cross-tenant access (market-clock, collectors, admin paths)."""
    with pool.connection() as conn:
        with conn.transaction():
            conn.execute(_AS_SERVICE, (SERVICE_ROLE,))
            yield conn
