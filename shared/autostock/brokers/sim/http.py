"""A tiny threaded JSON-over-HTTP server for the broker simulators (stdlib only).

A simulator supplies `app(request) -> SimResponse`; this records every request it receives
(for assertions), applies the fault plan's latency, and can drop a connection without an
answer (`DropConnection`), which is what a client sees when a broker dies mid-request.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from autostock.brokers.sim.feed import Faults


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]          # lower-case names
    body: bytes
    at: float                        # time.monotonic() on arrival
    answer: int = 0                  # HTTP status sent (0 = dropped)
    meta: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class SimResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class DropConnection(Exception):
    """Raised by an app to close the socket without writing an answer."""


class SimHttpServer:
    """Serves `app` on `host:port` (port 0 = ephemeral) in daemon threads."""

    def __init__(self, app: Callable[[SimRequest], SimResponse], *, faults: Faults | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.faults = faults or Faults()
        self.requests: list[SimRequest] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return  # quiet: tests assert on `requests`, not on logs

            def do_GET(self) -> None:
                server._serve(self, "GET")

            def do_POST(self) -> None:
                server._serve(self, "POST")

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimHttpServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sim-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(10)

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = SimRequest(method, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                             {k.lower(): v for k, v in handler.headers.items()}, body, time.monotonic())
        with self._lock:
            self.requests.append(request)
        self.faults.delay()
        try:
            response = self.app(request)
        except DropConnection:
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        request.answer = response.status
        data = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
        handler.send_response(response.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


class TokenBucket:
    """`rate` requests per second with a burst of `rate`, per key (real time, thread-safe)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        with self._lock:
            now = time.monotonic()
            tokens, last = self._state.get(key, (self.rate, now))
            tokens = min(self.rate, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._state[key] = (tokens, now)
                return False
            self._state[key] = (tokens - 1, now)
            return True


class ServedSim:
    """Lifecycle shared by the simulators that answer over one `SimHttpServer` (`self.server`)."""

    server: SimHttpServer

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[SimRequest]:
        return self.server.requests
