"""The services helper: start what does not answer, leave alone what does, stop only its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from autostock import services
from autostock.errors import ServiceUnavailable
from tests.conftest import ADMIN_DB_URL, NATS_URL, REDIS_URL
from tests.helpers import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def data_dir():
    # Not tmp_path: PostgreSQL runs as the `postgres` user when we are root, and pytest's
    # tmp folders are private to us; /tmp itself is open to everyone.
    with tempfile.TemporaryDirectory(prefix="autostock-svc-") as d:
        Path(d).chmod(0o755)
        yield Path(d)


def free_environ() -> dict[str, str]:
    pg, rd, nt = free_port(), free_port(), free_port()
    return {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/autostock",
        "TEST_ADMIN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/postgres",
        "REDIS_URL": f"redis://127.0.0.1:{rd}/0", "TEST_REDIS_URL": f"redis://127.0.0.1:{rd}/1",
        "NATS_URL": f"nats://127.0.0.1:{nt}", "TEST_NATS_URL": f"nats://127.0.0.1:{nt}",
    }


def test_unused_ports_get_real_servers_that_go_away_after(data_dir):
    environ = free_environ()
    with services.ensured(environ, data_dir) as svc:
        assert sorted(s.kind for s in svc.started) == ["nats", "postgres", "redis"]
        urls = svc.environment()
        with psycopg.connect(urls["TEST_ADMIN_DATABASE_URL"]) as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert services.ensure_database(urls["DATABASE_URL"]) is True
        assert services.ensure_database(urls["DATABASE_URL"]) is False
        assert redis.Redis.from_url(urls["REDIS_URL"]).ping()
        assert services.check_nats(urls["NATS_URL"])  # INFO says JetStream is on
        ports = [s.port for s in svc.started]
        assert "postgres:" in urls["DATABASE_URL"]  # the generated password is handed on
    eventually(lambda: not any(services.listening("127.0.0.1", p) for p in ports), timeout=30)
    assert services._read_state(data_dir) == []


def test_servers_that_answer_are_used_and_never_stopped(data_dir):
    environ = {"TEST_ADMIN_DATABASE_URL": ADMIN_DB_URL, "DATABASE_URL": ADMIN_DB_URL,
               "REDIS_URL": REDIS_URL, "TEST_REDIS_URL": REDIS_URL, "NATS_URL": NATS_URL, "TEST_NATS_URL": NATS_URL}
    with services.ensured(environ, data_dir) as svc:
        assert svc.started == []
        assert svc.environment()["TEST_REDIS_URL"] == REDIS_URL
    assert redis.Redis.from_url(REDIS_URL).ping()


def test_up_leaves_servers_running_and_down_stops_only_those(data_dir):
    port = free_port()
    environ = {**free_environ(), "REDIS_URL": f"redis://127.0.0.1:{port}/0", "TEST_REDIS_URL": REDIS_URL}
    environ.update({k: v for k, v in (("DATABASE_URL", ADMIN_DB_URL), ("TEST_ADMIN_DATABASE_URL", ADMIN_DB_URL),
                                       ("NATS_URL", NATS_URL), ("TEST_NATS_URL", NATS_URL))})
    started = services.ensure(environ, data_dir)
    assert [s.kind for s in started.started] == ["redis"]
    assert services.listening("127.0.0.1", port)
    assert services.stop_recorded(data_dir) == [f"redis:{port}"]
    eventually(lambda: not services.listening("127.0.0.1", port), timeout=20)
    assert services.listening("127.0.0.1", services.endpoint_of("redis", REDIS_URL).port)


def test_a_remote_service_that_does_not_answer_is_an_error(data_dir):
    environ = {**free_environ(), "REDIS_URL": "redis://192.0.2.1:6379/0"}
    environ["TEST_REDIS_URL"] = environ["REDIS_URL"]
    with pytest.raises(ServiceUnavailable, match="not local"):
        services.ensure({**environ, "DATABASE_URL": ADMIN_DB_URL, "TEST_ADMIN_DATABASE_URL": ADMIN_DB_URL,
                         "NATS_URL": NATS_URL, "TEST_NATS_URL": NATS_URL}, data_dir)


def test_services_run_passes_urls_and_exit_code(data_dir):
    env = {"PATH": "/usr/bin:/bin", "TEST_ADMIN_DATABASE_URL": ADMIN_DB_URL, "DATABASE_URL": ADMIN_DB_URL,
           "REDIS_URL": REDIS_URL, "TEST_REDIS_URL": REDIS_URL, "NATS_URL": NATS_URL, "TEST_NATS_URL": NATS_URL}
    done = subprocess.run([sys.executable, "-m", "autostock.cli", "services", "run", "--data-dir", str(data_dir),
                           "--", "sh", "-c", 'echo "$TEST_NATS_URL"; exit 7'],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert NATS_URL in done.stdout
