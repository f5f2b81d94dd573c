"""A tiny HTTP endpoint for a long-running process: `/healthz` (JSON) and `/metrics`
(Prometheus text format). Deliberately minimal: GET only, one request per connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

Health = Callable[[], tuple[bool, dict[str, Any]]]
Metrics = Callable[[], Mapping[str, tuple[str, str, float]]]   # name → (type, help, value)


def render_metrics(metrics: Mapping[str, tuple[str, str, float]]) -> str:
    lines = []
    for name, (kind, help_text, value) in metrics.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
    return "\n".join(lines) + "\n"


async def serve_probe(host: str, port: int, health: Health, metrics: Metrics) -> asyncio.Server:
    """Start serving; the bound port is `server.sockets[0].getsockname()[1]`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while await asyncio.wait_for(reader.readline(), 5) not in (b"\r\n", b"\n", b""):  # skip headers
                pass
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            if path.startswith("/healthz"):
                ok, body = health()
                status, ctype, text = (200 if ok else 503), "application/json", json.dumps(body, default=str)
            elif path.startswith("/metrics"):
                status, ctype, text = 200, "text/plain; version=0.0.4", render_metrics(metrics())
            else:
                status, ctype, text = 404, "text/plain", "not found\n"
            data = text.encode()
            writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'ERR'}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass  # a probe that hangs up or sends garbage gets nothing
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
