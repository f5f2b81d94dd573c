"""`autostock dev`: services, migrations, then the gateway, the connectors and the extras as
one process tree. Ctrl-C (or SIGTERM) stops the children, then the servers it started.

Each child runs in its own process group, so a terminal's Ctrl-C reaches only this
supervisor, which then stops the children in order (SIGTERM to the group, SIGKILL after a
grace period) and is the last to leave.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from autostock import services
from autostock.config import load_settings
from autostock.db.migrate import migrate
from autostock.errors import ConfigError
from autostock.runtime import GATEWAY_THREADS, extras, gateway_workers, handlers, simulators, stack

log = logging.getLogger("autostock.dev")

GRACE_SECONDS = 15
START_TIMEOUT = 60


@dataclass
class DevOptions:
    stack_path: Path
    root: Path | None
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".data")
    workers: int = field(default_factory=gateway_workers)
    threads: int = GATEWAY_THREADS


class ProcessTree:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], *, pipe: bool = False) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=self.env, start_new_session=True, preexec_fn=_die_with_parent,
                                stdout=subprocess.PIPE if pipe else None, text=pipe or None)
        self.children.append((name, proc))
        log.info("started", extra={"child": name, "pid": proc.pid})
        return proc

    def exited(self) -> str | None:
        return next((name for name, proc in self.children if proc.poll() is not None), None)

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("killing", extra={"child": name})
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            _signal_group(proc, signal.SIGKILL)  # grandchildren left behind (rq work horses)
        self.children.clear()


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if the supervisor dies without stopping it (kill -9).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_for_gateway(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the gateway exited with {proc.returncode} while starting (see its log above)")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise ConfigError(f"the gateway did not answer at {url} within {START_TIMEOUT}s")


def _with_internal_token(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with an INTERNAL_TOKEN: the configured one, else a fresh one for this run. Every
    child gets it, so the connectors' calls are accepted and nobody else's."""
    if load_settings(env).internal_token:
        return dict(env)
    return {**env, "INTERNAL_TOKEN": secrets.token_urlsafe(32)}


def _prepare(env: Mapping[str, str], opts: DevOptions) -> list[str]:
    """Check the stack (every handler imports), migrate, run the seeds; lines to print."""
    st = stack.load(opts.stack_path, env, opts.root)
    handlers.load_all(st)
    settings = load_settings(env)
    services.ensure_database(settings.database_url.reveal())
    migrate(settings.database_url.reveal())
    extras.load_plugins()
    return [line for seed in extras.SEEDS if (line := seed(settings))]


def run_dev(environ: Mapping[str, str], opts: DevOptions, announce: Callable[[str], None] = print) -> int:
    """Run until SIGINT/SIGTERM or until a child dies; 0 on a requested stop."""
    # A plain flag: a signal handler that takes a lock (Event.set) can deadlock with the
    # main thread holding it in Event.wait.
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.append(signum))
    sim = simulators.wanted(environ)   # a bad BROKER_SIM stops dev before anything is started
    with services.ensured(environ, opts.data_dir) as svc:
        env = _with_internal_token({**environ, **svc.environment()})
        lines = _prepare(env, opts)
        url = f"http://{opts.host}:{opts.port}"
        env["PUBLIC_URL"] = env.get("PUBLIC_URL") or url
        tree = ProcessTree(env)
        python = sys.executable
        common = ["--stack", str(opts.stack_path), "--gateway-url", url]
        if opts.root:
            common += ["--root", str(opts.root)]
        try:
            if sim:
                tree.env.update(simulators.start(sim, lambda name, argv: tree.start(name, argv, pipe=True), env))
            gateway = tree.start("gateway", [python, "-m", "autostock.runtime", "gateway", *common,
                                             "--bind", f"{opts.host}:{opts.port}",
                                             "--workers", str(opts.workers), "--threads", str(opts.threads)])
            _wait_for_gateway(url, gateway)
            tree.start("connectors", [python, "-m", "autostock.runtime", "connectors", *common])
            for extra in extras.EXTRAS:
                tree.start(extra.name, extra.command(python, url))
            announce(f"AutoStock is running at {url}  (health: {url}/api/v1/health, Ctrl-C stops)")
            for line in lines or ["demo login: none seeded yet; register at POST /api/v1/auth/register"]:
                announce(line)
            while not stop:
                time.sleep(0.2)
                dead = tree.exited()
                if dead:
                    log.error("a process exited; stopping everything", extra={"child": dead})
                    return 1
            return 0
        finally:
            tree.stop()
