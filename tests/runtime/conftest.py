"""A small test stack in tmp_path (functions that record every call they get), a real gateway
serving a stack over HTTP on an ephemeral port, and a NATS connector running in a thread."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from autostock.runtime import stack as stack_mod
from autostock.runtime.connectors import NatsConnector
from autostock.runtime.gateway import create_app
from autostock.runtime.handlers import load_all
from tests.helpers import ROOT

RECORDER = '''
import json
from pathlib import Path

CALLS = Path(__file__).with_name("calls.jsonl")


def handle(event, context):
    record = {"fn": Path(__file__).parent.name, "method": event.method, "path": event.path,
              "body": event.body.decode(), "topic": event.headers.get("X-Topic"),
              "connector": event.headers.get("X-Connector"), "query": event.query.get("q"),
              "internal": event.headers.get("X-Autostock-Internal")}
    with CALLS.open("a") as f:
        f.write(json.dumps(record) + "\\n")
    return {"statusCode": 200, "body": record, "headers": {"X-Handled-By": record["fn"]}}
'''

FUNCTIONS = {
    "hello": {"com.autostock.routes": "/api/v1/hello"},
    "things": {"com.autostock.routes": "/api/v1/things"},
    "placer": {"com.autostock.routes": "POST /api/v1/things"},
    "hooks": {"com.autostock.routes": "POST /api/v1/hooks"},
    "ticker": {"topic": "cron-function", "schedule": "*/5 * * * *"},
    "listener": {"topic": "rt.events,rt.more.>"},
}


def write_stack(root: Path, functions: dict[str, dict[str, str]], handler_code: str = RECORDER) -> Path:
    spec = {"version": "1.0", "provider": {"name": "openfaas", "gateway": "${OPENFAAS_URL:-http://127.0.0.1:8080}"},
            "functions": {}}
    for name, notes in functions.items():
        folder = root / "functions" / name.replace("-", "_")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "handler.py").write_text(handler_code)
        spec["functions"][name] = {"lang": "autostock-python", "handler": f"./functions/{folder.name}",
                                   "image": "${REGISTRY:-127.0.0.1:5000}/t-" + name + ":dev",
                                   "annotations": notes}
    path = root / "stack.yml"
    path.write_text(json.dumps(spec, indent=1))  # JSON is YAML
    return path


def calls_of(root: Path, function: str) -> list[dict]:
    path = root / "functions" / function / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def project_stack(*names: str) -> stack_mod.Stack:
    """The repository's stack.yml, with only the functions named (all when none is)."""
    full = stack_mod.load(ROOT / "stack.yml", {})
    if not names:
        return full
    return dataclasses.replace(full, functions={name: full.functions[name] for name in names})


@pytest.fixture
def test_stack(tmp_path: Path) -> stack_mod.Stack:
    return stack_mod.load(write_stack(tmp_path, FUNCTIONS), {})


@contextmanager
def served_gateway(stack: stack_mod.Stack) -> Iterator[str]:
    """The gateway for `stack`, on 127.0.0.1:<ephemeral>, in this process; yields its URL."""
    apps = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: apps["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    apps["app"] = create_app(stack, load_all(stack), gateway_url=url)  # async calls come back here
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def gateway(test_stack, resources) -> Iterator[str]:
    """The gateway for the test stack; yields its URL."""
    with served_gateway(test_stack) as url:
        yield url


@contextmanager
def running(connector: NatsConnector) -> Iterator[NatsConnector]:
    """`connector` subscribed (on its own thread and event loop) until the block ends."""
    state: dict = {}

    async def main() -> None:
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await connector.run(state["stop"])

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        assert connector.ready.wait(10), "the NATS connector did not subscribe"
        yield connector
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout=10)
    assert not thread.is_alive()


class _Sink(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Sink.received.append({"headers": dict(self.headers), "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def callback_sink():
    _Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/done", _Sink.received
    server.shutdown()
