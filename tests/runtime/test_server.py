"""The gateway's server: LOG_LEVEL holds in every worker, the app it serves is the one built
before the workers fork, and no request carries the process's environment."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import time

import requests

from autostock.logs import configure_logging
from autostock.runtime import server


def _options(monkeypatch, **kwargs) -> dict:
    seen: dict = {}
    monkeypatch.setattr(server.Server, "serve", lambda self, **kw: seen.update(vars(self), loader=kw["target_loader"]))
    server.serve("the app", "127.0.0.1:0", 1, **kwargs)
    return seen


def test_serve_keeps_the_configured_level(monkeypatch):
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        configure_logging("WARNING")
        seen = _options(monkeypatch)
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]
    config = seen["log_config"]
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["_granian"]["level"] in ("WARNING", logging.WARNING)  # granian sets it as a number
    assert config["loggers"]["granian.access"]["handlers"] == ["stderr"]


def test_serve_takes_an_explicit_level_and_hands_workers_the_built_app(monkeypatch):
    seen = _options(monkeypatch, log_level="error", access_log=True)
    assert seen["log_config"]["root"]["level"] == "ERROR"
    assert seen["log_access"] is True
    served = seen["loader"]("autostock.runtime.gateway:create_app")
    assert served.__name__ == "serve_request"


def test_bind_takes_host_and_port():
    assert server.options("0.0.0.0:8080", 2, 8, access_log=False, level="INFO")["address"] == "0.0.0.0"
    ipv6 = server.options("[::1]:9000", 1, 1, access_log=False, level="INFO")
    assert (ipv6["address"], ipv6["port"]) == ("::1", 9000)


def _app(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "path": environ["PATH_INFO"], "keys": sorted(environ),
                       "body": environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()})
    start_response("201 Created", [("Content-Type", "application/json")])
    return [body.encode()]


def _run(port: int) -> None:
    os.environ.update(JWT_SECRET="s3cret-for-the-test", HTTP_X_FROM_THE_ENVIRONMENT="1")
    server.serve(_app, f"127.0.0.1:{port}", 2, 2, log_level="ERROR")


def test_two_workers_serve_the_app_and_stop_on_sigterm():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = multiprocessing.get_context("spawn").Process(target=_run, args=(port,))
    proc.start()
    try:
        deadline, answer = time.monotonic() + 30, None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = requests.post(f"http://127.0.0.1:{port}/x/ü", data="hello", timeout=2,
                                       headers={"X-From-The-Client": "1"})
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 201
        assert answer.json()["body"] == "hello"
        assert answer.json()["pid"] != proc.pid  # a worker answered, not the main process
        keys = answer.json()["keys"]
        assert "HTTP_X_FROM_THE_CLIENT" in keys and "REMOTE_ADDR" in keys
        # granian copies the process environment into each environ; none of it reaches the app
        assert not {"JWT_SECRET", "HTTP_X_FROM_THE_ENVIRONMENT", "PATH", "HOME"} & set(keys)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.join(30)
    assert proc.exitcode == 0


def test_granians_advice_against_eight_threads_is_dropped_and_other_lines_kept(capsys):
    import logging.config
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        logging.config.dictConfig(server.logconfig("INFO"))
        log = logging.getLogger("_granian")
        log.warning("Configuration allows spawning up to 8 Python threads, which seems quite high")
        log.warning("Respawning worker-1")
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["msg"] for line in lines] == ["Respawning worker-1"]
