"""The local gateway routes both URL forms to the right handler, and queues async calls."""

from __future__ import annotations

import json

import pytest
import requests
from rq import SimpleWorker

from autostock.errors import ConfigError
from autostock.runtime import calls, stack
from autostock.runtime.gateway import RouteTable
from autostock.runtime.handlers import load_all
from tests.helpers import eventually
from tests.runtime.conftest import calls_of, write_stack


def test_function_form_calls_the_named_function_with_the_sub_path(gateway, test_stack):
    r = requests.get(f"{gateway}/function/hello/api/v1/hello/there?q=1", timeout=5)
    assert r.status_code == 200
    assert r.json() == {**r.json(), "fn": "hello", "path": "/api/v1/hello/there", "query": "1"}
    assert r.headers["X-Handled-By"] == "hello"
    assert r.headers["X-Call-Id"]
    assert requests.post(f"{gateway}/function/things", timeout=5).json()["path"] == "/"


@pytest.mark.parametrize(("method", "path", "function"), [
    ("GET", "/api/v1/hello", "hello"),
    ("GET", "/api/v1/hello/deeper/still", "hello"),
    ("GET", "/api/v1/things", "things"),
    ("POST", "/api/v1/things", "placer"),           # method + exact path beats the prefix
    ("POST", "/api/v1/things/7/cancel", "things"),  # ... below it the route without method wins
    ("DELETE", "/api/v1/things/7", "things"),
    ("POST", "/api/v1/hooks/orders/abc", "hooks"),  # a method route is a prefix too
])
def test_public_routes_reach_the_most_specific_function(gateway, method, path, function):
    r = requests.request(method, gateway + path, timeout=5)
    assert r.status_code == 200, r.text
    assert (r.json()["fn"], r.json()["path"], r.json()["method"]) == (function, path, method)


def test_unknown_routes_and_functions_are_404_in_the_error_shape(gateway):
    for path in ("/api/v1/nothing", "/api/v1/hellothere", "/function/nope/x"):
        r = requests.get(gateway + path, timeout=5)
        assert r.status_code == 404
        assert r.json()["error"]["code"] in ("route_not_found", "function_not_found")
        assert r.json()["error"]["request_id"] == r.headers["X-Call-Id"]
    assert requests.post(f"{gateway}/api/v1/hooks", timeout=5).status_code == 200
    assert requests.get(f"{gateway}/api/v1/hooks/x", timeout=5).status_code == 404   # GET is not declared


def test_route_table_prefers_longer_paths_then_methods():
    routes = stack.parse_routes("a", "/api/v1/x") + stack.parse_routes("b", "/api/v1/x/y") \
        + stack.parse_routes("c", "PUT /api/v1/x/y") + stack.parse_routes("d", "POST /api/v1/x/*")
    table = RouteTable(list(routes))
    assert table.resolve("GET", "/api/v1/x/z") == "a"
    assert table.resolve("GET", "/api/v1/x/y/1") == "b"
    assert table.resolve("PUT", "/api/v1/x/y") == "c"
    assert table.resolve("PUT", "/api/v1/x/y/") == "c"
    assert table.resolve("PUT", "/api/v1/x/y/1") == "b"   # below its path, the plain route wins
    assert table.resolve("POST", "/api/v1/x") == "d"
    assert table.resolve("POST", "/api/v1/x/q") == "a"
    assert table.resolve("POST", "/api/v1/x/y/q") == "b"  # the longer path first
    assert table.resolve("GET", "/api/v1/xy") is None


def test_async_call_is_queued_and_its_result_reaches_the_callback(gateway, test_stack, resources, callback_sink):
    callback_url, received = callback_sink
    r = requests.post(f"{gateway}/async-function/hello/api/v1/hello?q=2", data=b'{"n": 1}',
                      headers={"X-Callback-Url": callback_url}, timeout=5)
    assert r.status_code == 202
    call_id = r.headers["X-Call-Id"]
    calls.work(resources.settings, burst=True, worker_class=SimpleWorker)
    got = eventually(lambda: received, timeout=10)[0]
    assert got["headers"]["X-Call-Id"] == call_id
    assert got["headers"]["X-Function-Name"] == "hello"
    assert got["headers"]["X-Function-Status"] == "200"
    assert float(got["headers"]["X-Duration-Seconds"]) >= 0
    result = json.loads(got["body"])
    assert (result["method"], result["path"], result["body"], result["query"]) \
        == ("POST", "/api/v1/hello", '{"n": 1}', "2")
    assert calls_of(test_stack.root, "hello")[-1]["body"] == '{"n": 1}'


def test_async_call_to_an_unknown_function_is_404(gateway):
    assert requests.post(f"{gateway}/async-function/nope", timeout=5).status_code == 404


def test_a_broken_handler_stops_start_up_naming_the_function(tmp_path):
    st = stack.load(write_stack(tmp_path, {"broken-one": {}}, handler_code="import nonexistent_module\n"), {})
    with pytest.raises(ConfigError, match="broken-one"):
        load_all(st)
