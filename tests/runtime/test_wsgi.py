"""python3-http's return-value rules, kept by the gateway and the template alike."""

from __future__ import annotations

import pytest

from autostock.runtime.extras import EXTRAS, Extra, register
from autostock.runtime.wsgi import render


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
