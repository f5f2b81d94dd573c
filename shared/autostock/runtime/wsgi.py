"""Flask glue shared by the local gateway and the function template's `index.py`.

It turns a Flask request into the python3-http `Event` and a handler's returned dict into a
response, with python3-http's rules: a dict body becomes JSON, anything else `str()` (served
as text/html unless the handler sets Content-Type), `None` an empty 200.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, request
from werkzeug.datastructures import MultiDict

from autostock.contract import Context, Event, Headers

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def event_from_request(path: str | None = None, headers: dict[str, str] | None = None) -> Event:
    """The current Flask request as an Event; `path` overrides what the function sees."""
    hdrs = Headers(request.headers)
    if headers:
        for key, value in headers.items():
            hdrs[key] = value
    return Event(method=request.method, path=path if path is not None else request.path,
                 body=request.get_data(), headers=hdrs, query=request.args,
                 remote_addr=request.remote_addr or "")


def event_from_environ(environ: Mapping[str, Any], path: str, call_id: str) -> Event:
    """An Event straight from a WSGI environ (the gateway's hot path: no Flask request)."""
    headers = Headers()
    # dict.update skips Headers.__setitem__: the keys are lower-cased here already.
    dict.update(headers, {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k[:5] == "HTTP_"})
    if environ.get("CONTENT_TYPE"):
        dict.__setitem__(headers, "content-type", environ["CONTENT_TYPE"])
    dict.__setitem__(headers, "x-call-id", call_id)
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked request, de-chunked by the server
        body = stream.read()
    else:
        body = b""
    qs = environ.get("QUERY_STRING")
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


def response_from(result: Any) -> Response:
    status, body, headers = render(result)
    return Response(body, status=status, headers=headers)


def single_function_app(handle: Any, context: Context | None = None) -> Flask:
    """What the template serves: every method on every path goes to one handler."""
    app = Flask("autostock-function")
    ctx = context or Context()

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def call(path: str) -> Response:
        return response_from(handle(event_from_request(), ctx))

    return app
