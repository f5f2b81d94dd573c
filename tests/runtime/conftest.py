"""A small test stack in tmp_path (functions that record every call they get) and a real
gateway serving it over HTTP on an ephemeral port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from autostock.runtime import stack as stack_mod
from autostock.runtime.gateway import create_app
from autostock.runtime.handlers import load_all

RECORDER = '''
import json
from pathlib import Path

CALLS = Path(__file__).with_name("calls.jsonl")


def handle(event, context):
    record = {"fn": Path(__file__).parent.name, "method": event.method, "path": event.path,
              "body": event.body.decode(), "topic": event.headers.get("X-Topic"),
              "connector": event.headers.get("X-Connector"), "query": event.query.get("q")}
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


@pytest.fixture
def test_stack(tmp_path: Path) -> stack_mod.Stack:
    return stack_mod.load(write_stack(tmp_path, FUNCTIONS), {})


@pytest.fixture
def gateway(test_stack, resources) -> Iterator[str]:
    """The gateway for the test stack, on 127.0.0.1:<ephemeral>; yields its URL."""
    apps = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: apps["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    apps["app"] = create_app(test_stack, load_all(test_stack), gateway_url=url)  # async calls come back here
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=5)


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
