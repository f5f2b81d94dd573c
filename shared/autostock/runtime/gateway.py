"""The local gateway: one Flask app serving every function of the stack.

`/function/<name>/<sub-path>` calls a function with `/<sub-path>` as its path (as the OpenFaaS
gateway does); the public routes of `com.autostock.routes` call it with the full path;
`/async-function/<name>` queues the call (see `calls`) and answers 202 with `X-Call-Id`.
The route table is computed once, at start-up; a request only walks it (and the answer for
a method and path is cached), so the hot path is: match, build the Event, call, render.
"""

from __future__ import annotations

import logging
import time
import uuid
from functools import lru_cache
from typing import Any

from flask import Flask, Response, request

from autostock import contract, errors
from autostock.contract import Context
from autostock.logs import request_context
from autostock.runtime import calls
from autostock.runtime.handlers import Handle
from autostock.runtime.stack import Route, Stack
from autostock.runtime.wsgi import METHODS, answer, event_from_environ, render, respond

log = logging.getLogger("autostock.gateway")

CONTEXT = Context(hostname="autostock-dev")


class RouteTable:
    """Public routes, most specific first (see `stack` for the rule)."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = tuple(routes)
        self.resolve = lru_cache(maxsize=8192)(self._resolve)

    def _resolve(self, method: str, path: str) -> str | None:
        found = [r for r in self.routes if r.matches(method, path)]
        return max(found, key=lambda r: r.rank(path)).function if found else None


def _error(exc: BaseException, request_id: str) -> Response:
    status, body, headers = render(_as_result(*errors.render_error(exc, request_id)))
    return Response(body, status=status, headers={**headers, "X-Call-Id": request_id})


def _as_result(status: int, body: dict, headers: dict[str, str]) -> dict[str, Any]:
    return {"statusCode": status, "body": body, "headers": headers}


class FastPath:
    """WSGI middleware in front of the Flask app: a synchronous call (a public route or
    `/function/<name>/...` of a known function) goes from the WSGI environ straight to the
    handler; everything else (async calls, /healthz, unknown paths) goes on to Flask."""

    def __init__(self, flask_app: Any, table: RouteTable, handles: dict[str, Handle]) -> None:
        self.flask_app = flask_app
        self.table = table
        self.handles = handles

    def target(self, method: str, path: str) -> tuple[str, str] | None:
        if path.startswith("/function/"):
            name, _, sub = path[10:].partition("/")
            return (name, "/" + sub) if name in self.handles else None
        if path.startswith("/async-function/") or path == "/healthz":
            return None
        name = self.table.resolve(method, path)
        return (name, path) if name else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        found = self.target(environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/")
        if found is None:
            return self.flask_app(environ, start_response)
        name, path = found
        call_id = environ.get("HTTP_X_CALL_ID") or uuid.uuid4().hex
        started = time.perf_counter()
        with request_context(call_id):
            status, body, headers = answer(self.handles[name], event_from_environ(environ, path, call_id), CONTEXT,
                                           call_id)
            log.info("call", extra={"function": name, "method": environ["REQUEST_METHOD"], "path": path,
                                    "status": status, "ms": round((time.perf_counter() - started) * 1000, 2)})
        headers["X-Call-Id"] = call_id
        return respond(environ, start_response, status, body, headers)


def create_app(stack: Stack, handles: dict[str, Handle], gateway_url: str) -> Flask:
    """The gateway for `stack`, calling `handles` (name → handle); `gateway_url` is where
    queued calls come back in."""
    table = RouteTable(stack.routes())
    app = Flask("autostock-gateway")

    @app.route("/healthz", methods=["GET"])
    def healthz() -> Response:
        return Response(b"OK", status=200, content_type="text/plain")

    @app.route("/async-function/<name>", defaults={"sub": ""}, methods=METHODS)
    @app.route("/async-function/<name>/<path:sub>", methods=METHODS)
    def async_function(name: str, sub: str) -> Response:
        call_id = request.headers.get("X-Call-Id") or uuid.uuid4().hex
        if name not in handles:
            return _error(errors.NotFound(f"no function named {name}", code="function_not_found"), call_id)
        settings = contract.current_resources().settings
        calls.enqueue(settings, calls.Call(
            call_id=call_id, function=name, path="/" + sub, query=request.query_string.decode(),
            headers=dict(request.headers), body=request.get_data(), gateway_url=gateway_url,
            callback_url=request.headers.get("X-Callback-Url")))
        log.info("queued", extra={"function": name, "request_id": call_id})
        return Response(b"", status=202, headers={"X-Call-Id": call_id})

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def not_found(path: str) -> Response:
        call_id = request.headers.get("X-Call-Id") or uuid.uuid4().hex
        if path.startswith("function/"):
            name = path.split("/")[1]
            return _error(errors.NotFound(f"no function named {name}", code="function_not_found"), call_id)
        return _error(errors.NotFound(f"no route for {request.method} /{path}", code="route_not_found"), call_id)

    app.wsgi_app = FastPath(app.wsgi_app, table, handles)  # type: ignore[method-assign]
    app.config["ROUTE_TABLE"] = table
    return app
