"""The process's connections: one PostgreSQL pool, one Redis client, one NATS publisher.

Nothing connects at import. `Resources.open(settings)` builds them; `for_process` keeps one
set per process (the gateway's server forks workers, and a pool must never cross a fork).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import psycopg
import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from autostock.config import Settings
from autostock.events import EventBus

# A connection back from use less than this long ago goes out unchecked. The check is a round
# trip on every checkout (one per transaction); a connection that just finished a transaction
# is almost surely alive, and if the server dropped it since, the next statement fails, that
# request errs once, and the pool replaces the broken connection when it comes back.
# Connections idle longer (a NAS at night, a restarted database) are checked as before, so the
# first request after a quiet spell does not fail.
CHECK_IDLE_AFTER = 5.0


class _Pool(ConnectionPool):
    """Notes when each connection comes back. (psycopg_pool's `reset` callback could, but with
    one it hands every returned connection to a worker thread: a thread switch per transaction.)"""

    def putconn(self, conn: psycopg.Connection) -> None:
        conn._autostock_returned_at = time.monotonic()  # type: ignore[attr-defined]
        super().putconn(conn)


def _check_if_idle(conn: psycopg.Connection) -> None:
    returned = getattr(conn, "_autostock_returned_at", None)
    if returned is None or time.monotonic() - returned > CHECK_IDLE_AFTER:
        ConnectionPool.check_connection(conn)


@dataclass
class Resources:
    settings: Settings
    pool: ConnectionPool
    redis: redis.Redis
    events: EventBus

    @classmethod
    def open(cls, settings: Settings, *, wait: bool = True) -> Resources:
        pool = _Pool(
            settings.database_url.reveal(),
            min_size=1,
            max_size=settings.db_pool_max,
            # Autocommit: `db.tenant` and `db.service` send their own BEGIN with the role.
            kwargs={"row_factory": dict_row, "autocommit": True},
            check=_check_if_idle,
            open=False,
            name="autostock",
        )
        pool.open(wait=wait, timeout=10)
        client = redis.Redis.from_url(settings.redis_url.reveal(), decode_responses=True,
                                      socket_timeout=5, socket_connect_timeout=2,
                                      health_check_interval=30)
        return cls(settings=settings, pool=pool, redis=client, events=EventBus(settings))

    def close(self) -> None:
        self.pool.close()
        self.redis.close()
        self.events.close()


_lock = threading.Lock()
_by_pid: dict[int, Resources] = {}


def for_process(settings: Settings) -> Resources:
    """The resources of this process, opened on first use."""
    pid = os.getpid()
    with _lock:
        found = _by_pid.get(pid)
        if found is None or found.settings is not settings:
            found = Resources.open(settings)
            _by_pid[pid] = found
        return found
