"""Throw-away isolation for benchmarks, like the tests': a fresh database (migrated, dropped
after), a Redis key prefix and a NATS subject prefix, all named by a run id; and a WSGI app
served by gunicorn over those resources."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

from autostock import db
from autostock.auth import passwords
from autostock.config import Settings, load_settings
from autostock.db.migrate import migrate
from autostock.resources import Resources

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """A new empty database named for this run (`autostock_bench_<name>_<id>`): its URL; dropped after."""
    admin = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    database = f"autostock_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield admin.rpartition("/")[0] + "/" + database
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def temporary_resources(name: str) -> Iterator[Resources]:
    """Resources on a database made for this benchmark run; everything is removed afterwards.
    The database's run id also names the Redis and NATS prefixes."""
    with throwaway_database(name) as url:
        run = url.rpartition("/")[2].removeprefix("autostock_bench_")
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


def bench_user(resources: Resources, password: str, rounds: int = 4) -> dict[str, str]:
    """An active user (bcrypt cost `rounds`) with no daily API quota: {"id", "username"}."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with db.service(resources.pool) as conn:
        row = conn.execute("INSERT INTO users (email, username, password_hash, api_calls_limit)"
                           " VALUES (%s, %s, %s, 0) RETURNING id",
                           (f"{name}@bench.example", name, passwords.hash_password(password, rounds))).fetchone()
    return {"id": str(row["id"]), "username": name}


def free_port() -> int:
    """A loopback port free now (a server started next takes it; a bench-only race)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment plus what a server process needs to run on `settings`'
    database, Redis and NATS prefixes (quiet logs); `extra` adds or overrides settings."""
    return {**os.environ, "DATABASE_URL": settings.database_url.reveal(), "REDIS_URL": settings.redis_url.reveal(),
            "NATS_URL": settings.nats_url, "JWT_SECRET": settings.jwt_secret.reveal(),
            "ENCRYPTION_KEYS": settings.encryption_keys.reveal(), "REDIS_PREFIX": settings.redis_prefix,
            "NATS_PREFIX": settings.nats_prefix, "SECRETS_DIR": "/nonexistent", "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def gunicorn(resources: Resources, app: str, *, workers: int, threads: int,
             env: dict[str, str] | None = None) -> Iterator[tuple[int, int]]:
    """`app` ("module:attribute") under gunicorn with gthread workers on a free loopback port,
    configured for `resources`; yields (gunicorn's pid, port) and stops it afterwards.
    `env` adds or overrides settings (e.g. a rate limit a single bench user would hit)."""
    port = free_port()
    binary = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([binary, "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
                             "--threads", str(threads), "--log-level", "warning", app],
                            env=server_env(resources.settings, **(env or {})), cwd=ROOT, start_new_session=True)
    try:
        wait_for_port(port, proc)
        yield proc.pid, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until `proc` (the server) accepts connections on `port`; RuntimeError if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.args[0] if isinstance(proc.args, list) else proc.args} did not start"
                       f" (exit code {proc.poll()})")
