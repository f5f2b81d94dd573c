"""python3-http's return-value rules, kept by the gateway and the template alike, and the
template's app handing each request to its handler."""

from __future__ import annotations

import pytest

from autostock.contract import Context, Router
from autostock.runtime.extras import EXTRAS, Extra, register
from autostock.runtime.wsgi import render, single_function_app


@pytest.mark.parametrize(("result", "expected"), [
    (None, (200, b"", {})),
    ({"body": {"a": 1}}, (200, b'{"a": 1}', {"Content-Type": "application/json"})),
    ({"statusCode": 201, "body": "hi"}, (201, b"hi", {"Content-Type": "text/html; charset=utf-8"})),
    ({"statusCode": 200, "body": b"\x00", "headers": {"Content-Type": "application/octet-stream"}},
     (200, b"\x00", {"Content-Type": "application/octet-stream"})),
    ({"statusCode": 204}, (204, b"", {"Content-Type": "text/html; charset=utf-8"})),
])
def test_render_follows_python3_http(result, expected):
    assert render(result) == expected


def test_render_refuses_what_is_not_a_dict():
    with pytest.raises(TypeError):
        render([1, 2])


def test_extras_fill_in_python_and_gateway_and_register_once():
    extra = Extra("probe", ("{python}", "-m", "x", "--gateway", "{gateway}"))
    assert extra.command("/py", "http://g") == ["/py", "-m", "x", "--gateway", "http://g"]
    before = len(EXTRAS)
    register(extra)
    register(extra)
    try:
        assert len(EXTRAS) == before + 1
    finally:
        EXTRAS.remove(extra)


def _echo_app():
    router = Router()
    seen = []

    @router.route("GET", "/echo/<name>")
    @router.route("POST", "/echo/<name>")
    def echo(req):
        seen.append(req.event)
        return 200, {"name": req.params["name"], "path": req.path, "q": req.query("q"), "n": req.json().get("n")}

    @router.route("GET", "/raw")
    def raw(req):
        return {"statusCode": 200, "body": b"\x00\x01"}

    return single_function_app(router.handle, Context(hostname="fn")).test_client(), seen


def test_template_app_gives_the_handler_the_request_as_an_event():
    client, seen = _echo_app()
    r = client.post("/echo/%ED%95%9C?q=a%20b", json={"n": 3},
                    headers={"X-Real-IP": "10.1.2.3", "X-Request-Id": "rid-1"})
    assert r.status_code == 200 and r.json == {"name": "한", "path": "/echo/한", "q": "a b", "n": 3}
    assert r.headers["X-Request-Id"] == "rid-1" and r.headers["X-Content-Type-Options"] == "nosniff"
    event = seen[-1]
    assert event.method == "POST" and event.headers["x-real-ip"] == "10.1.2.3"
    assert event.headers["content-type"] == "application/json" and event.body == b'{"n": 3}'
    assert client.get("/raw").data == b"\x00\x01"
    unescaped = "q=삼성".encode().decode("latin-1")   # UTF-8 sent as is: WSGI carries its bytes as latin-1
    assert client.get("/echo/x", environ_overrides={"QUERY_STRING": unescaped}).json["q"] == "삼성"


def test_template_app_answers_head_without_a_body_and_errors_in_the_error_shape():
    client, _ = _echo_app()
    got, head = client.get("/echo/x"), client.head("/echo/x")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"] != "0"
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "route_not_found"


def test_template_app_renders_an_exception_a_bare_handler_lets_out():
    def handle(event, context):
        raise RuntimeError("boom")

    r = single_function_app(handle).test_client().get("/x", headers={"X-Call-Id": "call-7"})
    assert r.status_code == 500 and r.json["error"]["code"] == "internal_error"
    assert r.json["error"]["request_id"] == r.headers["X-Request-Id"] == "call-7"
    assert "boom" not in r.text
