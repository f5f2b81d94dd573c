"""Throw-away isolation for benchmarks, like the tests': a fresh database (migrated, dropped
after), a Redis key prefix and a NATS subject prefix, all named by a run id."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from cryptography.fernet import Fernet

from autostock.config import Settings, load_settings
from autostock.db.migrate import migrate
from autostock.resources import Resources


@contextmanager
def temporary_resources(name: str) -> Iterator[Resources]:
    """Resources on a database made for this benchmark run; everything is removed afterwards."""
    run = f"{name}_{uuid.uuid4().hex[:8]}"
    admin = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    database = f"autostock_bench_{run}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = admin.rpartition("/")[0] + "/" + database
    try:
        migrate(url)
        settings: Settings = load_settings({
            "DATABASE_URL": url, "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "NATS_URL": os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222"),
            "JWT_SECRET": uuid.uuid4().hex * 2, "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "REDIS_PREFIX": f"b{run}:", "NATS_PREFIX": f"b{run}.", "SECRETS_DIR": "/nonexistent"})
        resources = Resources.open(settings)
        try:
            yield resources
        finally:
            keys = list(resources.redis.scan_iter(match=settings.redis_prefix + "*"))
            if keys:
                resources.redis.delete(*keys)
            resources.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
