"""docs/api/openapi.yaml is a valid OpenAPI document, served at /api/v1/openapi.json, and
every path it documents is routed to some function."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from autostock import openapi
from autostock.errors import ConfigError
from autostock.runtime import stack
from autostock.runtime.gateway import RouteTable
from tests.helpers import ROOT, invoke


def test_openapi_yaml_is_valid():
    validate(openapi.document())


def test_openapi_json_is_served_by_the_admin_function(resources):
    r = invoke("admin", "GET", "/api/v1/openapi.json")
    assert r.status == 200
    assert r.json["openapi"].startswith("3.")
    assert "/api/v1/health" in r.json["paths"]


def test_every_documented_path_is_routed():
    table = RouteTable(stack.load(ROOT / "stack.yml", {}).routes())
    for path, operations in openapi.document()["paths"].items():
        concrete = path.replace("{", "").replace("}", "")
        for method in (m for m in operations if m in ("get", "post", "put", "patch", "delete")):
            assert table.resolve(method.upper(), concrete), f"{method.upper()} {path} reaches no function"


def test_a_missing_document_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        openapi.document(str(tmp_path / "nope.yaml"))
    (tmp_path / "x.yaml").write_text("just: text\n")
    with pytest.raises(ConfigError, match="not an OpenAPI"):
        openapi.document(str(tmp_path / "x.yaml"))
