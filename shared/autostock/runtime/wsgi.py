"""WSGI glue shared by the local gateway and the function template's `index.py`.

It turns a request into the python3-http `Event` and a handler's returned dict into a
response, with python3-http's rules: a dict body becomes JSON, anything else `str()` (served
as text/html unless the handler sets Content-Type), `None` an empty 200. A call goes from the
WSGI environ straight to the handler: Flask's request and response objects cost a quarter of
a small call's CPU (bench_market, bench_auth), so only the gateway's own routes use them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.datastructures import MultiDict

from autostock import errors
from autostock.contract import Context, Event, Headers
from autostock.logs import new_request_id

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _native(value: str) -> str:
    """A WSGI string (its bytes carried as latin-1, PEP 3333) as the UTF-8 text it is, as
    werkzeug reads it: a client may send UTF-8 unescaped."""
    return value.encode("latin-1").decode("utf-8", "replace")


def event_from_environ(environ: Mapping[str, Any], path: str, call_id: str | None = None) -> Event:
    """An Event straight from a WSGI environ (no Flask request); `call_id`, when given, is set
    as the X-Call-Id header the handler sees (the gateway names every call)."""
    headers = Headers()
    # dict.update skips Headers.__setitem__: the keys are lower-cased here already.
    dict.update(headers, {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k[:5] == "HTTP_"})
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            dict.__setitem__(headers, name.replace("_", "-").lower(), environ[name])
    if call_id:
        dict.__setitem__(headers, "x-call-id", call_id)
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked request, de-chunked by the server
        body = stream.read()
    else:
        body = b""
    qs = _native(environ.get("QUERY_STRING") or "")
    query = MultiDict(parse_qsl(qs, keep_blank_values=True)) if qs else MultiDict()
    return Event(method=environ["REQUEST_METHOD"], path=path, body=body, headers=headers, query=query,
                 remote_addr=environ.get("REMOTE_ADDR") or "")


STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def render(result: Any) -> tuple[int, bytes, dict[str, str]]:
    """A handler's return value → (status, body bytes, headers)."""
    if result is None:
        return 200, b"", {}
    if not isinstance(result, dict):
        raise TypeError(f"a handler must return a dict, not {type(result).__name__}")
    status = int(result.get("statusCode", 200))
    headers = dict(result.get("headers") or {})
    body = result.get("body")
    if isinstance(body, dict):
        headers.setdefault("Content-Type", "application/json")
        return status, json.dumps(body, default=str, ensure_ascii=False).encode(), headers
    if isinstance(body, bytes):
        return status, body, headers
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "text/html; charset=utf-8"
    return status, b"" if body is None else str(body).encode(), headers


def answer(handle: Any, event: Event, context: Context,
           request_id: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    """`handle`'s rendered answer to `event`. An exception it lets out (a handler that is not a
    Router, or a return value `render` refuses) is answered as a Router would answer it."""
    try:
        return render(handle(event, context))
    except Exception as e:
        request_id = (request_id or event.headers.get("x-request-id") or event.headers.get("x-call-id")
                      or new_request_id())
        status, body, headers = errors.render_error(e, request_id)
        return render({"statusCode": status, "body": body, "headers": {**headers, "X-Request-Id": request_id}})


def respond(environ: Mapping[str, Any], start_response: Any, status: int, body: bytes,
            headers: dict[str, str]) -> list[bytes]:
    """Start the WSGI response; a HEAD answer keeps its Content-Length but sends no body."""
    headers["Content-Length"] = str(len(body))
    start_response(STATUS_LINES.get(status) or f"{status} Unknown", list(headers.items()))
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


class _SingleFunction:
    """The template's WSGI app: every method on every path goes to one handler."""

    def __init__(self, handle: Any, context: Context) -> None:
        self.handle = handle
        self.context = context

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # Normalised as werkzeug's request.path is, so a signed path reads as it did when the
        # template served through Flask.
        event = event_from_environ(environ, "/" + _native(environ.get("PATH_INFO") or "").lstrip("/"))
        status, body, headers = answer(self.handle, event, self.context)
        return respond(environ, start_response, status, body, headers)


def single_function_app(handle: Any, context: Context | None = None) -> Flask:
    """What the template serves. A Flask app (tests use its `test_client`) whose WSGI entry
    calls the handler directly."""
    app = Flask("autostock-function")
    app.wsgi_app = _SingleFunction(handle, context or Context())  # type: ignore[method-assign]
    return app
