"""gunicorn serving a WSGI app, with gunicorn's own lines in our JSON log format."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication


def logconfig(level: str) -> dict[str, Any]:
    """gunicorn applies this in the arbiter and every worker, replacing the root logger's
    set-up: it must carry LOG_LEVEL, or every worker logs at INFO (a line per request)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "autostock.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {"gunicorn.error": {"level": level.upper(), "handlers": ["stderr"], "propagate": False}},
    }


class _Logger(glogging.Logger):
    """Access lines only when asked for: given a log config, gunicorn builds every request's
    access-log fields even when no handler would print them."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


class Server(BaseApplication):
    """The app is built before gunicorn forks its workers, so every handler is imported (and a
    broken one reported) once, at start-up; connections open in each worker on first use."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.app = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.app


def serve(app: Any, bind: str, workers: int, threads: int = 1, *, access_log: bool = False,
          log_level: str | None = None) -> None:
    """Serve `app`; `log_level` None keeps the root logger's level (`logs.configure_logging`)."""
    level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
    options: dict[str, Any] = {
        "bind": bind, "workers": workers, "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "logconfig_dict": logconfig(level), "logger_class": _Logger,
        "graceful_timeout": 10, "control_socket_disable": True, "timeout": 120, "keepalive": 5,
    }
    if access_log:
        options["accesslog"] = "-"
    Server(app, options).run()
