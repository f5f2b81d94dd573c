"""gunicorn's logging set-up keeps LOG_LEVEL (it replaces the root logger's in every worker)."""

from __future__ import annotations

import logging

from autostock.logs import configure_logging
from autostock.runtime import server


def _options(monkeypatch, **kwargs) -> dict:
    seen: dict = {}
    monkeypatch.setattr(server.Server, "run", lambda self: seen.update(self.options))
    server.serve(object(), "127.0.0.1:0", 1, **kwargs)
    return seen


def test_serve_keeps_the_configured_level(monkeypatch):
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        configure_logging("WARNING")
        config = _options(monkeypatch)["logconfig_dict"]
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["gunicorn.error"]["level"] == "WARNING"


def test_serve_takes_an_explicit_level(monkeypatch):
    assert _options(monkeypatch, log_level="error")["logconfig_dict"]["root"]["level"] == "ERROR"
