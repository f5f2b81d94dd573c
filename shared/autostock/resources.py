"""The process's connections: one PostgreSQL pool, one Redis client, one NATS publisher.

Nothing connects at import. `Resources.open(settings)` builds them; `for_process` keeps one
set per process (gunicorn forks workers, and a pool must never cross a fork).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from autostock.config import Settings
from autostock.events import EventBus


@dataclass
class Resources:
    settings: Settings
    pool: ConnectionPool
    redis: redis.Redis
    events: EventBus

    @classmethod
    def open(cls, settings: Settings, *, wait: bool = True) -> Resources:
        pool = ConnectionPool(
            settings.database_url.reveal(),
            min_size=1,
            max_size=settings.db_pool_max,
            kwargs={"row_factory": dict_row, "autocommit": False},
            check=ConnectionPool.check_connection,
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
