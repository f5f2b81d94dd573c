"""Starting local PostgreSQL, Redis and NATS (JetStream) servers on loopback under a data
directory; `autostock.services` decides when. Each starter returns the process and its folder.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from autostock.errors import ConfigError, ServiceUnavailable


def postgres_bin(name: str) -> str:
    """The newest Debian PostgreSQL's binary (they live outside PATH), else PATH's."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if not on_path:
        raise ConfigError(f"{name} not found: install PostgreSQL (Debian package postgresql)")
    return on_path


def _binary(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}")
                                       if os.access(p, os.X_OK)), None)
    if not path:
        raise ConfigError(f"{name} not found: install the Debian package for it")
    return path


def _postgres_user() -> str | None:
    # PostgreSQL refuses to run as root; as root we run it as the `postgres` user.
    return "postgres" if os.geteuid() == 0 else None


def _usable_by(user: str | None, directory: Path) -> bool:
    if user is None:
        return True
    return subprocess.run(["test", "-x", str(directory)],
                          user=user, check=False).returncode == 0


def _postgres_home(data_dir: Path, port: int, user: str | None) -> Path:
    """`<data>/postgres-<port>`, or a folder in /tmp when the postgres user cannot reach
    `<data>` (a checkout under /root, say)."""
    if _usable_by(user, data_dir):
        return data_dir / f"postgres-{port}"
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]
    fallback = Path(tempfile.gettempdir()) / f"autostock-{digest}"
    fallback.mkdir(mode=0o755, exist_ok=True)
    return fallback / f"postgres-{port}"


def password_file(data_dir: Path, port: int) -> Path:
    return data_dir / f"postgres-{port}.password"


def _start_postgres(data_dir: Path, port: int) -> tuple[subprocess.Popen, Path]:
    user = _postgres_user()
    home = _postgres_home(data_dir, port, user)
    if not (home / "PG_VERSION").exists():
        shutil.rmtree(home, ignore_errors=True)  # a half-made cluster from an interrupted start
        home.mkdir(parents=True)
        password = secrets.token_urlsafe(24)
        pw_path = password_file(data_dir, port)
        pw_path.write_text(password)
        pw_path.chmod(0o600)
        pwfile = home.parent / f"initdb-{port}.pw"
        pwfile.write_text(password)
        if user:
            shutil.chown(home, user, user)
            shutil.chown(pwfile, user, user)
        done = subprocess.run([postgres_bin("initdb"), "-D", str(home), "-U", "postgres", "-A", "scram-sha-256",
                               f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C"],
                              user=user, check=False, capture_output=True, text=True)
        pwfile.unlink()
        if done.returncode != 0:
            raise ServiceUnavailable(f"initdb failed in {home}: {done.stderr.strip()[-500:]}")
    logfile = open(home.parent / f"postgres-{port}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [postgres_bin("postgres"), "-D", str(home), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
         "-c", "unix_socket_directories=", "-c", "max_connections=200"],
        user=user, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, home


def _start_redis(data_dir: Path, port: int) -> tuple[subprocess.Popen, Path]:
    home = data_dir / f"redis-{port}"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [_binary("redis-server"), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(home),
         "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
        stdout=open(home / "redis.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True)
    return proc, home


def _start_nats(data_dir: Path, port: int) -> tuple[subprocess.Popen, Path]:
    home = data_dir / f"nats-{port}"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [_binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(home / "jetstream")],
        stdout=open(home / "nats.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True)
    return proc, home


STARTERS = {"postgres": _start_postgres, "redis": _start_redis, "nats": _start_nats}
