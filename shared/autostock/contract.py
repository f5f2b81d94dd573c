"""The OpenFaaS python3-http contract, and the glue that keeps handlers thin.

A handler module builds a `Router`, registers one small function per route, and exposes
`handle = router.handle`. The router parses the path, calls the route with a `Request`, and
turns whatever it returns or raises into the `{"statusCode", "body", "headers"}` dict the
template expects. Errors are rendered here, by `errors.render_error`, and nowhere else.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autostock import errors
from autostock.config import load_settings
from autostock.logs import current_request_id, request_context
from autostock.resources import Resources

log = logging.getLogger("autostock.contract")

MAX_BODY_BYTES = 64 * 1024
# Our connectors send INTERNAL_TOKEN in this header; `require_internal` checks it.
INTERNAL_HEADER = "X-Autostock-Internal"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class Headers(dict):
    """Case-insensitive header mapping (keys stored lower-case)."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for k, v in (data or {}).items():
            self[k] = v

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


@dataclass
class Event:
    """What the template hands `handle`: body is bytes, headers are case-insensitive."""

    method: str = "GET"
    path: str = "/"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=Headers)
    query: Mapping[str, Any] = field(default_factory=dict)
    remote_addr: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(dict(self.headers))
        self.method = self.method.upper()


@dataclass
class Context:
    hostname: str = "localhost"


_resources_lock = threading.Lock()
_resources: Resources | None = None


def install(resources: Resources | None) -> None:
    """Use these resources for every handler in this process (the runtime and tests call it)."""
    global _resources
    with _resources_lock:
        _resources = resources


def current_resources() -> Resources:
    """The process's resources; in a deployed function, built from the settings on first use."""
    global _resources
    with _resources_lock:
        if _resources is None:
            _resources = Resources.open(load_settings())
        return _resources


class Request:
    """One call: the event plus parsed parts and the process's resources."""

    def __init__(self, event: Event, params: dict[str, str]) -> None:
        self.event = event
        self.params = params
        self._json: Any = None
        self._principal: Any = None

    @property
    def resources(self) -> Resources:
        return current_resources()

    @property
    def method(self) -> str:
        return self.event.method

    @property
    def path(self) -> str:
        return self.event.path

    @property
    def headers(self) -> Mapping[str, str]:
        return self.event.headers

    def query(self, name: str, default: str | None = None) -> str | None:
        value = self.event.query.get(name, default)
        if isinstance(value, list):
            return value[0] if value else default
        return value

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; {} for an empty body."""
        if self._json is None:
            self._json = parse_json_object(self.event.body)
        return self._json

    @property
    def principal(self) -> Any:
        """The authenticated caller (raises AuthError when there is none)."""
        if self._principal is None:
            from autostock.auth import authenticate  # auth imports contract's neighbours only
            self._principal = authenticate(self.resources, self.event)
        return self._principal


def require_internal(req: Request) -> None:
    """Refuse a call that does not carry INTERNAL_TOKEN: only our connectors hold it.

    `/function/<name>` is open to anyone who reaches a gateway (OpenFaaS CE leaves function
    endpoints unauthenticated; the local gateway may listen on a LAN), and X-Topic or
    X-Connector are headers anyone can set: they say which delivery it is, never who sent it.
    """
    expected = req.resources.settings.internal_token.reveal()
    given = req.headers.get(INTERNAL_HEADER) or ""
    # Bytes: compare_digest takes str only when ASCII, and a header may hold anything.
    if expected and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        return
    # Logged so an operator sees a stock connector (which cannot send the token) or a probe.
    log.warning("internal call refused" if expected else "internal call refused: INTERNAL_TOKEN is not set",
                extra={"path": req.path, "remote_addr": req.event.remote_addr})
    raise errors.Forbidden("this path only takes the platform's internal calls", code="not_an_internal_call")


def parse_json_object(body: bytes | str | None) -> dict[str, Any]:
    if not body:
        return {}
    if len(body) > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.ValidationError("request body is not valid JSON", code="invalid_json") from e
    if not isinstance(value, dict):
        raise errors.ValidationError("request body must be a JSON object", code="invalid_json")
    return value


Response = tuple[int, Any] | tuple[int, Any, dict[str, str]] | dict[str, Any]
Route = Callable[[Request], Response]

_PARAM = re.compile(r"<([a-z_]+)>")


@dataclass
class _Entry:
    method: str
    pattern: re.Pattern[str]
    template: str
    fn: Route


class Router:
    """Method + path-pattern dispatch. Patterns use `<name>` for one path segment."""

    def __init__(self) -> None:
        self.entries: list[_Entry] = []

    def route(self, method: str, template: str) -> Callable[[Route], Route]:
        regex = "^" + _PARAM.sub(r"(?P<\1>[^/]+)", template.rstrip("/") or "/") + "/?$"

        def register(fn: Route) -> Route:
            self.entries.append(_Entry(method.upper(), re.compile(regex), template, fn))
            return fn

        return register

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for entry in self.entries:
            m = entry.pattern.match(path)
            if m:
                if entry.method == method or (method == "HEAD" and entry.method == "GET"):
                    return entry.fn, m.groupdict()
                allowed.append(entry.method)
        if allowed:
            raise errors.MethodNotAllowed(f"{method} is not allowed on {path}",
                                          details={"allowed": sorted(set(allowed))})
        raise errors.NotFound(f"no route for {path}", code="route_not_found")

    def handle(self, event: Event, context: Context | None = None) -> dict[str, Any]:
        rid = event.headers.get("x-request-id") or event.headers.get("x-call-id")
        with request_context(rid) as request_id:
            try:
                fn, params = self.resolve(event.method, event.path)
                result = fn(Request(event, params))
                response = _normalise(result)
            except Exception as e:  # the one place errors become responses
                status, body, headers = errors.render_error(e, current_request_id())
                response = {"statusCode": status, "body": body, "headers": headers}
            response["headers"] = {**SECURITY_HEADERS, **response.get("headers", {}),
                                   "X-Request-Id": request_id}
            return response


def _normalise(result: Response) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    status, body, *rest = result
    headers = rest[0] if rest else {}
    if isinstance(body, list):
        raise TypeError("a handler body must be a dict, not a list")  # python3-http would repr it
    return {"statusCode": status, "body": body, "headers": dict(headers)}


def require_fields(data: Mapping[str, Any], required: dict[str, type | tuple[type, ...]],
                   optional: dict[str, type | tuple[type, ...]] | None = None,
                   *, allow_unknown: bool = False) -> dict[str, Any]:
    """Check a JSON object's fields: presence, JSON type, no unknown keys. Returns a copy.

    `bool` is never accepted where `int` is asked for (JSON true is not a quantity).
    """
    optional = optional or {}
    problems: dict[str, str] = {}
    for name, kind in required.items():
        if name not in data or data[name] is None:
            problems[name] = "is required"
    for name, value in data.items():
        kind = required.get(name) or optional.get(name)
        if kind is None:
            if not allow_unknown:
                problems[name] = "is not a known field"
            continue
        if value is None and name in optional:
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            problems[name] = f"must be {_kind_name(kinds)}"
        elif not isinstance(value, kinds):
            problems[name] = f"must be {_kind_name(kinds)}"
    if problems:
        first = next(iter(problems))
        raise errors.ValidationError(f"{first} {problems[first]}", details={"fields": problems})
    return dict(data)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", bool: "a boolean", float: "a number",
             list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def query_int(req: Request, name: str, default: int, *, low: int = 0, high: int = 1_000_000_000) -> int:
    """An integer query parameter within [low, high], or ValidationError naming it."""
    raw = req.query(name)
    if raw in (None, ""):
        return default
    if not str(raw).lstrip("-").isdigit() or not low <= int(raw) <= high:
        raise errors.ValidationError(f"{name} must be an integer from {low} to {high}",
                                     details={"fields": {name: "out of range"}})
    return int(raw)
