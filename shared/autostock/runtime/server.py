"""The gateway's HTTP server: granian, with granian's own lines in our JSON log format.

granian speaks HTTP in Rust and runs the WSGI app on a pool of Python threads in each worker
process. It replaced gunicorn's gthread workers here, whose HTTP parsing and thread hand-off
run in Python under the same GIL as the app: on two cores, under 32 clients placing paper
orders, the server spent about 0.3 ms less CPU per order behind granian (2.21 ms against 2.52 on
average over five interleaved rounds each) and a third less on a bare health check
(docs/benchmarks.md). The function images still run gunicorn behind of-watchdog (the
template), where one process serves one function and the watchdog does the HTTP.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server import Server

from autostock.config import variable_names


class IntendedThreads(logging.Filter):
    """Drops granian's start-up advice against more threads than twice the cores: the
    gateway's threads mostly wait on broker and database round trips (see
    `runtime.gateway_workers`), so the count is intended and the line would only alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Configuration allows spawning up to")


def logconfig(level: str) -> dict[str, Any]:
    """granian applies this in the main process and every worker, replacing the root logger's
    set-up: it must carry LOG_LEVEL, or every worker logs at granian's default (INFO)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "autostock.logs.JsonFormatter"}},
        "filters": {"intended_threads": {"()": IntendedThreads}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "_granian": {"level": level.upper(), "handlers": ["stderr"], "propagate": False,
                         "filters": ["intended_threads"]},
            "granian.access": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
        },
    }


def options(bind: str, workers: int, threads: int, *, access_log: bool, level: str) -> dict[str, Any]:
    """granian's settings for serving on `bind` (host:port) with `workers` processes of
    `threads` threads each."""
    host, _, port = bind.rpartition(":")
    return {
        "address": host.strip("[]") or "0.0.0.0", "port": int(port), "interface": Interfaces.WSGI,
        "http": HTTPModes.http1, "websockets": False,
        "workers": workers, "blocking_threads": threads, "runtime_threads": 1,
        # A worker that dies is replaced, as gunicorn's arbiter did; one that will not stop
        # within 10 s of a shutdown is killed.
        "respawn_failed_workers": True, "workers_kill_timeout": 10,
        "log_level": LogLevels(level.lower()), "log_dictconfig": logconfig(level), "log_access": access_log,
    }


def serve(app: Any, bind: str, workers: int, threads: int = 1, *, access_log: bool = False,
          log_level: str | None = None) -> None:
    """Serve `app` until SIGTERM or SIGINT; `log_level` None keeps the root logger's level
    (`logs.configure_logging`).

    The app is built before the workers fork, so every handler is imported (and a broken one
    reported) once, at start-up; connections open in each worker on first use. granian's
    `target` names a module to import in each worker, which a forked worker never needs: its
    loader hands over the app this process built."""
    level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
    # Workers must fork (they inherit the app); a spawned worker would need it pickled.
    multiprocessing.set_start_method("fork", force=True)
    server = Server("autostock.runtime.gateway:create_app",
                    **options(bind, workers, threads, access_log=access_log, level=level))
    server.serve(target_loader=lambda _target: without_process_environment(app))


# What granian's request scope always sets: never taken for the process's own variables.
_REQUEST_KEYS = frozenset({"REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "SERVER_NAME",
                           "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH"})


def without_process_environment(app: Callable[..., Any]) -> Callable[..., Any]:
    """`app` behind a wrapper that takes the process's environment variables back out of each
    request's environ.

    granian starts every environ from a copy of `os.environ` (CGI's custom, allowed by PEP 3333),
    so the gateway's secrets (JWT_SECRET, DATABASE_URL) would sit in each request, a step from
    any log or error page, and a variable named HTTP_* (HTTP_PROXY) would read as a header the
    client sent. Call it in the worker, where granian copies the environment."""
    inherited = tuple(variable_names() - _REQUEST_KEYS)

    def serve_request(environ: dict[str, Any], start_response: Any) -> Any:
        for key in inherited:
            environ.pop(key, None)
        return app(environ, start_response)

    return serve_request
