"""Helpers tests share: polling waits and calling handlers the way the gateway does."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from autostock.contract import INTERNAL_HEADER, Event, current_resources

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__import__("os").environ.get("SHARED_DIR") or ROOT.parent / "shared") / "data"


def eventually(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def load_handler(function: str) -> ModuleType:
    """Import `functions/<function>/handler.py` as its own module."""
    name = f"fn_{function.replace('-', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    folder = function.replace("-", "_")
    path = ROOT / "functions" / folder / "handler.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Reply:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.status: int = raw.get("statusCode", 200)
        self.headers: dict[str, str] = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        self.body: Any = raw.get("body")

    @property
    def json(self) -> Any:
        return self.body if isinstance(self.body, dict) else json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        body = self.body if isinstance(self.body, dict) else {}
        return (body.get("error") or {}).get("code")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


def invoke(function: str, method: str, path: str, body: Any = None, *, token: str | None = None,
           headers: dict[str, str] | None = None, query: dict[str, Any] | None = None) -> Reply:
    """Call a function's handler directly, as the template would."""
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    event = Event(method=method, path=path, body=raw, headers=hdrs, query=query or {})
    return Reply(load_handler(function).handle(event, None))


def internal_headers(topic: str, connector: str = "connector-sdk") -> dict[str, str]:
    """The headers our connectors send with a delivery of `topic`, the internal token of the
    settings the handlers run with included. Without them an internal route answers 403."""
    return {"X-Topic": topic, "X-Connector": connector,
            INTERNAL_HEADER: current_resources().settings.internal_token.reveal()}


# A Monday mid-session in 2025 (sell tax 0.15 %, docs/brokers.md §4.4): tests that trade run
# at any time of day on this clock.
SESSION_TIME = dt.datetime(2025, 6, 16, 10, 0, tzinfo=ZoneInfo("Asia/Seoul"))


class SettableClock:
    """An injectable clock (paper broker, order desk, market clock); tests move `at`."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def rows_read(conn: Any, table: str) -> int:
    """Rows this backend's scans of `table` fetched and has not reported yet: the difference of
    two readings in one transaction is what the statements between them read."""
    row = conn.execute("SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_xact_user_tables"
                       " WHERE relname = %s", (table,)).fetchone()
    return 0 if row is None else int(row["n"])
