"""gunicorn's logging set-up: LOG_LEVEL holds in every worker; no access-log work unless asked for."""

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


def test_no_access_log_fields_are_built_unless_access_lines_are_wanted(monkeypatch):
    from gunicorn.config import Config
    built: list[object] = []
    monkeypatch.setattr(server.glogging.Logger, "atoms", lambda self, *args: built.append(args) or {})
    config = Config()
    config.set("logconfig_dict", server.logconfig("INFO"))
    server._Logger(config).access(None, None, {}, None)
    assert built == []
    config.set("accesslog", "/dev/null")
    server._Logger(config).access(None, None, {}, None)
    assert len(built) == 1
