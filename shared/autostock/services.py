"""Make sure PostgreSQL, Redis and NATS (JetStream on) answer at the configured URLs.

For each configured endpoint that nothing listens on, start a local server under the data
directory (default `.data/`) on loopback, wait until it is ready, and later stop exactly the
servers this helper started. An endpoint that answers is used as it is and never touched.

The caller hands in the environment (a mapping); the only variables read are the URL ones
below, so `make test` can point the tests at other ports with `TEST_*_URL`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

from autostock.errors import ServiceUnavailable
from autostock.local_servers import STARTERS, password_file

log = logging.getLogger("autostock.services")

# Variable → (kind, default). DATABASE_URL & co. serve the platform; TEST_* serve tests/conftest.py.
URL_VARIABLES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("postgres", "postgresql://postgres@127.0.0.1:5432/autostock"),
    "TEST_ADMIN_DATABASE_URL": ("postgres", "postgresql://postgres@127.0.0.1:5432/postgres"),
    "REDIS_URL": ("redis", "redis://127.0.0.1:6379/0"),
    "TEST_REDIS_URL": ("redis", "redis://127.0.0.1:6379/0"),
    "NATS_URL": ("nats", "nats://127.0.0.1:4222"),
    "TEST_NATS_URL": ("nats", "nats://127.0.0.1:4222"),
}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "nats": 4222}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
READY_TIMEOUT = 60.0
STATE_FILE = "services.json"


@dataclass
class Started:
    """A server this helper started (and so may stop)."""

    kind: str
    port: int
    pid: int
    directory: str
    process: subprocess.Popen | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Endpoint:
    kind: str
    host: str
    port: int


def endpoint_of(kind: str, url: str) -> Endpoint:
    parts = urlsplit(url)
    return Endpoint(kind, parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[kind])


def configured_urls(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ.get(name) or default for name, (_, default) in URL_VARIABLES.items()}


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---- probes: raise ServiceUnavailable naming what is wrong ----

def _with_password(url: str, password: str | None) -> str:
    parts = urlsplit(url)
    if not password or parts.password:
        return url
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_postgres(url: str) -> str:
    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    try:
        with psycopg.connect(server, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except psycopg.Error as e:
        raise ServiceUnavailable(f"PostgreSQL at {_safe(url)} refused us: {e}".strip()) from e


def check_redis(url: str) -> str:
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        return str(client.info("server")["redis_version"])
    except redis.RedisError as e:
        raise ServiceUnavailable(f"Redis at {_safe(url)} does not answer: {e}") from e
    finally:
        client.close()


def check_nats(url: str) -> str:
    """Read the server's INFO line: no client library, and it says whether JetStream is on."""
    ep = endpoint_of("nats", url)
    try:
        with socket.create_connection((ep.host, ep.port), timeout=3) as sock:
            line = sock.makefile("rb").readline(65536).decode()
    except OSError as e:
        raise ServiceUnavailable(f"NATS at {_safe(url)} does not answer: {e}") from e
    if not line.startswith("INFO "):
        raise ServiceUnavailable(f"{ep.host}:{ep.port} is not a NATS server")
    info = json.loads(line[5:])
    if not info.get("jetstream"):
        raise ServiceUnavailable(f"NATS at {ep.host}:{ep.port} runs without JetStream (start it with -js)")
    return str(info.get("version", "?"))


CHECKS = {"postgres": check_postgres, "redis": check_redis, "nats": check_nats}


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"


def _wait_ready(kind: str, url: str, proc: subprocess.Popen, home: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"{kind} exited with {proc.returncode} while starting; see logs in {home.parent}")
        try:
            CHECKS[kind](url)
            return
        except ServiceUnavailable as e:
            last = e
            time.sleep(0.1)
    raise ServiceUnavailable(f"{kind} did not become ready in {READY_TIMEOUT:.0f}s: {last}")


class Services:
    """The outcome of `ensure`: the URLs to use and the servers it started."""

    def __init__(self, data_dir: Path, urls: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.urls = urls
        self.started: list[Started] = []

    def environment(self) -> dict[str, str]:
        """Variables to give a child process so it talks to these servers."""
        return dict(self.urls)

    def stop(self) -> None:
        for server in reversed(self.started):
            stop_server(server)
            _forget(self.data_dir, server)
        self.started.clear()


def ensure(environ: Mapping[str, str], data_dir: str | Path = ".data") -> Services:
    """Check every configured endpoint; start what does not listen; return the URLs to use."""
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    result = Services(data, configured_urls(environ))
    ready: dict[Endpoint, str | None] = {}  # endpoint → password to use with it
    try:
        for name, url in result.urls.items():
            kind = URL_VARIABLES[name][0]
            ep = endpoint_of(kind, url)
            if ep not in ready:
                ready[ep] = _ensure_endpoint(result, ep, url)
            if kind == "postgres":
                result.urls[name] = _with_password(url, ready[ep])
    except BaseException:
        result.stop()
        raise
    return result


def _ensure_endpoint(result: Services, ep: Endpoint, url: str) -> str | None:
    pw_path = password_file(result.data_dir, ep.port)
    password = pw_path.read_text().strip() if ep.kind == "postgres" and pw_path.exists() else None
    if listening(ep.host, ep.port):
        try:
            CHECKS[ep.kind](url)
            return None
        except ServiceUnavailable:
            if password is None:
                raise
        CHECKS[ep.kind](_with_password(url, password))  # one of ours, left running by `up`
        return password
    if ep.host not in LOOPBACK:
        raise ServiceUnavailable(f"{ep.kind} at {ep.host}:{ep.port} does not answer (and is not local to start)")
    log.info("starting a local server", extra={"service": ep.kind, "port": ep.port})
    proc, home = STARTERS[ep.kind](result.data_dir, ep.port)
    server = Started(ep.kind, ep.port, proc.pid, str(home), proc)
    result.started.append(server)
    _remember(result.data_dir, server)
    if ep.kind == "postgres":
        password = pw_path.read_text().strip()
    _wait_ready(ep.kind, _with_password(url, password), proc, home)
    return password


def stop_server(server: Started, timeout: float = 20.0) -> None:
    # PostgreSQL: SIGINT is "fast shutdown" (SIGTERM would wait for every client to leave).
    sig = signal.SIGINT if server.kind == "postgres" else signal.SIGTERM
    try:
        os.kill(server.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None:
            if server.process.poll() is not None:
                return
        elif not _alive(server.pid):
            return
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


# ---- the state file: what `up` left running, so `down` stops only that ----

def _read_state(data_dir: Path) -> list[dict]:
    path = data_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else []


def _write_state(data_dir: Path, entries: list[dict]) -> None:
    (data_dir / STATE_FILE).write_text(json.dumps(entries, indent=1))


def _remember(data_dir: Path, server: Started) -> None:
    entry = {"kind": server.kind, "port": server.port, "pid": server.pid, "directory": server.directory}
    _write_state(data_dir, [*_read_state(data_dir), entry])


def _forget(data_dir: Path, server: Started) -> None:
    _write_state(data_dir, [e for e in _read_state(data_dir) if e["pid"] != server.pid])


def stop_recorded(data_dir: str | Path = ".data") -> list[str]:
    """Stop the servers a detached `services up` started (and nothing else)."""
    data = Path(data_dir).resolve()
    stopped = []
    for entry in _read_state(data):
        server = Started(entry["kind"], entry["port"], entry["pid"], entry["directory"])
        if _alive(server.pid) and _cmdline_mentions(server.pid, str(server.port)):
            stop_server(server)
            stopped.append(f"{server.kind}:{server.port}")
        _forget(data, server)
    return stopped


def _cmdline_mentions(pid: int, text: str) -> bool:
    # A recycled pid must not be killed: our servers all carry their port in argv.
    try:
        return text in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


@contextmanager
def ensured(environ: Mapping[str, str], data_dir: str | Path = ".data") -> Iterator[Services]:
    """`ensure`, then stop what was started when the block ends."""
    services = ensure(environ, data_dir)
    try:
        yield services
    finally:
        services.stop()


def ensure_database(url: str) -> bool:
    """Create the database named in `url` when it is missing (dev installs). True if created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
