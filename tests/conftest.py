"""Per-run isolation on real services: a fresh PostgreSQL database (dropped at the end), a
Redis key prefix (deleted at the end) and a NATS subject prefix, all named by a run id.

A service that does not answer fails the run; it is never skipped.
"""

from __future__ import annotations

import logging
import os
import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis as redis_lib
from cryptography.fernet import Fernet

from autostock import contract
from autostock.config import Settings, load_settings
from autostock.db.migrate import migrate
from autostock.resources import Resources

RUN_ID = uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A test that runs the CLI configures logging onto the stderr pytest captured for it; put
    the root logger back, or later threads log into that closed stream ("Logging error")."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

INTERNAL_TOKEN = secrets.token_urlsafe(32)  # what this run's connectors prove themselves with
ADMIN_DB_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")


def _db_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"autostock_test_{RUN_ID}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _db_url(ADMIN_DB_URL, name)
    migrate(url)
    yield url
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides: str) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "NATS_URL": NATS_URL,
        "JWT_SECRET": "test-secret-" + RUN_ID * 4,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "INTERNAL_TOKEN": INTERNAL_TOKEN,
        "APP_ENV": "test",
        "REDIS_PREFIX": f"t{RUN_ID}:",
        "NATS_PREFIX": f"t{RUN_ID}.",
        "SECRETS_DIR": "/nonexistent",
        **overrides,
    }
    return load_settings(env)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def resources(settings: Settings) -> Iterator[Resources]:
    res = Resources.open(settings)
    contract.install(res)
    yield res
    contract.install(None)
    _drop_redis_prefix(res.redis, settings.redis_prefix)
    res.close()


def _drop_redis_prefix(client: redis_lib.Redis, prefix: str) -> None:
    batch = []
    for key in client.scan_iter(match=prefix + "*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)


@pytest.fixture
def user_factory(resources: Resources):
    """Make users directly (service role) and mint their access tokens.

    `user_factory(username=None, scopes=("read", "trade", "paper"), **columns)` → dict with
    id, username, email, token. The identity tests exercise the real registration path.
    """
    from autostock import db
    from autostock.auth.tokens import issue_access_token

    def make(username: str | None = None, scopes: tuple[str, ...] = ("read", "trade", "paper"),
             **columns: object) -> dict:
        username = username or f"user_{uuid.uuid4().hex[:8]}"
        # The token's scopes are narrowed to the user's permissions at every call: grant them.
        if "admin" in scopes:
            columns.setdefault("is_admin", True)
        if "real" in scopes:
            columns.setdefault("can_real_trade", True)
        values = {"email": f"{username}@example.com", "username": username,
                  "password_hash": "not-a-login", **columns}
        names = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        with db.service(resources.pool) as conn:
            row = conn.execute(f"INSERT INTO users ({names}) VALUES ({marks}) RETURNING id",
                               list(values.values())).fetchone()
        token, _ = issue_access_token(resources.settings, str(row["id"]), list(scopes))
        return {"id": str(row["id"]), "username": username, "email": values["email"], "token": token}

    return make
