"""Transactions scoped to a tenant, with row-level security doing the second check.

Every tenant table has `user_id` and a policy `user_id = app_user_id()`. `tenant()` switches
the transaction to the `autostock_app` role (never a superuser, never the owner, so RLS
applies even when the pool logs in as the owner) and sets `app.user_id` for that
transaction only. A query that forgets its `WHERE user_id = ...` then sees nothing of
anybody else. `service()` is for platform internals and admins (role `autostock_service`,
whose policies see every row).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

APP_ROLE = "autostock_app"
SERVICE_ROLE = "autostock_service"


# One simple-protocol query opens the transaction and switches it: BEGIN, then the role and
# the tenant as transaction-local settings (`set_config('role', ..., true)` is SET LOCAL ROLE as
# a function; PostgREST switches roles the same way). The pool's connections are in autocommit
# mode, so psycopg sends no BEGIN of its own: a transaction costs one round trip before its
# first query, not three. The values go in as quoted literals (simple protocol takes no
# parameters); the role is ours and the user id any string, quoted by psycopg.
_AS_TENANT = sql.SQL("BEGIN; SELECT set_config('role', {}, true), set_config('app.user_id', {}, true)")
_AS_SERVICE = sql.SQL("BEGIN; SELECT set_config('role', {}, true)")


@contextmanager
def tenant(pool: ConnectionPool, user_id: UUID | str) -> Iterator[psycopg.Connection]:
    """One transaction as `user_id`: commits when the block ends, rolls back on error."""
    with _transaction(pool, _begin_as_tenant(str(user_id))) as conn:
        yield conn


@contextmanager
def service(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """One transaction with cross-tenant access (market-clock, collectors, admin paths)."""
    with _transaction(pool, _BEGIN_AS_SERVICE) as conn:
        yield conn


# The opening query, quoted once per user (composing and quoting it cost more than the round
# trip's own Python; the same few users call again and again).
@functools.lru_cache(maxsize=4096)
def _begin_as_tenant(user_id: str) -> bytes:
    return _AS_TENANT.format(sql.Literal(APP_ROLE), sql.Literal(user_id)).as_bytes(None)


_BEGIN_AS_SERVICE = _AS_SERVICE.format(sql.Literal(SERVICE_ROLE)).as_bytes(None)


@contextmanager
def _transaction(pool: ConnectionPool, begin: bytes) -> Iterator[psycopg.Connection]:
    with pool.connection() as conn:
        try:
            conn.execute(begin)
            yield conn
        except BaseException:
            with suppress(psycopg.Error):  # a broken connection: the pool replaces it
                conn.rollback()
            raise
        conn.commit()
