import json

import pytest

from autostock import errors
from autostock.contract import Event, Router, parse_json_object, require_fields

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
