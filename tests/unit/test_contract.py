import json
import logging
from types import SimpleNamespace

import pytest

from autostock import errors
from autostock.config import Secret
from autostock.contract import INTERNAL_HEADER, Event, Router, parse_json_object, require_fields, require_internal
from autostock.logs import JsonFormatter

router = Router()


@router.route("GET", "/api/v1/things/<thing_id>")
def get_thing(req):
    return 200, {"id": req.params["thing_id"]}


@router.route("POST", "/api/v1/things")
def make_thing(req):
    data = require_fields(req.json(), {"name": str, "qty": int})
    return 201, data


@router.route("GET", "/boom")
def boom(req):
    raise RuntimeError("password=hunter2 at db")


@router.route("GET", "/limited")
def limited(req):
    raise errors.RateLimited("slow down", retry_after=7)


def test_path_params_and_security_headers():
    r = router.handle(Event("GET", "/api/v1/things/abc"))
    assert r["statusCode"] == 200 and r["body"] == {"id": "abc"}
    assert r["headers"]["X-Content-Type-Options"] == "nosniff"
    assert r["headers"]["X-Request-Id"]


def test_unknown_route_and_wrong_method():
    assert router.handle(Event("GET", "/nope"))["statusCode"] == 404
    r = router.handle(Event("DELETE", "/api/v1/things/1"))
    assert r["statusCode"] == 405 and r["body"]["error"]["details"]["allowed"] == ["GET"]


@pytest.mark.parametrize("body,status,code", [
    (b"{not json", 400, "invalid_json"),
    (b"[1,2]", 400, "invalid_json"),
    (json.dumps({"name": "x"}).encode(), 400, "validation_error"),
    (json.dumps({"name": "x", "qty": "3"}).encode(), 400, "validation_error"),
    (json.dumps({"name": "x", "qty": True}).encode(), 400, "validation_error"),
    (json.dumps({"name": "x", "qty": 3, "extra": 1}).encode(), 400, "validation_error"),
    (b'{"name": "' + b"x" * 70000 + b'", "qty": 1}', 413, "payload_too_large"),
])
def test_bad_bodies_get_one_error_shape(body, status, code):
    r = router.handle(Event("POST", "/api/v1/things", body=body))
    assert r["statusCode"] == status
    err = r["body"]["error"]
    assert err["code"] == code and err["message"] and "request_id" in err


def test_good_body():
    r = router.handle(Event("POST", "/api/v1/things", body=b'{"name": "x", "qty": 3}'))
    assert r["statusCode"] == 201 and r["body"] == {"name": "x", "qty": 3}


def test_unknown_exception_is_a_bare_500_without_internals():
    r = router.handle(Event("GET", "/boom", headers={"X-Request-Id": "rid-1"}))
    assert r["statusCode"] == 500
    assert r["body"]["error"]["code"] == "internal_error"
    assert "hunter2" not in json.dumps(r["body"])
    assert r["body"]["error"]["request_id"] == "rid-1"


def test_rate_limited_carries_retry_after():
    r = router.handle(Event("GET", "/limited"))
    assert r["statusCode"] == 429 and r["headers"]["Retry-After"] == "7"


def test_empty_body_is_empty_object():
    assert parse_json_object(b"") == {}


def _internal_request(configured: str, headers: dict[str, str]) -> SimpleNamespace:
    """What require_internal reads of a Request, with the process's settings made up."""
    event = Event("POST", "/", headers=headers)
    settings = SimpleNamespace(internal_token=Secret(configured))
    return SimpleNamespace(resources=SimpleNamespace(settings=settings), headers=event.headers, path=event.path,
                           event=event)


def test_require_internal_takes_exactly_the_configured_token():
    require_internal(_internal_request("s3cret-token", {INTERNAL_HEADER.lower(): "s3cret-token"}))
    for sent in ({}, {INTERNAL_HEADER: ""}, {INTERNAL_HEADER: "s3cret-toke"}, {INTERNAL_HEADER: "s3cret-token "},
                 {INTERNAL_HEADER: "ä" * 12}, {"X-Topic": "orders.fill", "X-Connector": "connector-sdk"}):
        with pytest.raises(errors.Forbidden) as e:
            require_internal(_internal_request("s3cret-token", sent))
        assert e.value.code == "not_an_internal_call", sent


def test_require_internal_refuses_everything_when_no_token_is_configured(caplog):
    with pytest.raises(errors.Forbidden), caplog.at_level(logging.WARNING):
        require_internal(_internal_request("", {INTERNAL_HEADER: ""}))
    assert "INTERNAL_TOKEN is not set" in caplog.text


def test_a_refused_internal_call_is_logged_without_what_was_sent(caplog):
    with pytest.raises(errors.Forbidden), caplog.at_level(logging.WARNING):
        require_internal(_internal_request("s3cret-token", {INTERNAL_HEADER: "s3cret-tokex"}))
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "internal call refused" in logged and "s3cret-tok" not in logged
