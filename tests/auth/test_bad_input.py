"""Bad input on every identity endpoint that takes a body: 400/413/422, a clear message, and
no change anywhere (row counts of every table stay the same)."""

import json

import pytest
import yaml

from autostock import accounts
from autostock.auth import apikeys
from tests import tenancy
from tests.helpers import ROOT, invoke

OURS = {"auth", "accounts", "admin"}
SPEC = yaml.safe_load((ROOT / "docs/api/openapi.yaml").read_text())
WRONG = {"string": 12345, "integer": "12", "boolean": "yes", "array": "x", "object": [1], "number": "x"}


def _schema(ref_or_schema):
    ref = ref_or_schema.get("$ref")
    if ref:
        return SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return ref_or_schema


def _operations():
    found = []
    for path, item in sorted(SPEC["paths"].items()):
        for method, op in item.items():
            if method not in ("post", "put", "patch") or "requestBody" not in op:
                continue
            function = tenancy.function_for(method.upper(), path)
            if function in OURS:
                schema = _schema(op["requestBody"]["content"]["application/json"]["schema"])
                found.append((path, method.upper(), function, schema))
    return found


OPERATIONS = _operations()


def _bad_bodies(schema):
    yield "invalid_json", b'{"username": '
    yield "not_an_object", b'["a", "b"]'
    yield "too_large", json.dumps({"x": "a" * (65 * 1024)}).encode()
    yield "unknown_field", {"surely_not_a_field": 1}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type")
        if kind in WRONG:
            yield f"wrong_type_{name}", {name: WRONG[kind]}
    if schema.get("required"):
        yield "missing_fields", {}


def _counts(resources):
    with resources.pool.connection() as conn:  # the owner: every table, RLS not in the way
        tables = [r["tablename"] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'audit_log'")]
        counts = {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in tables}  # noqa: S608
        counts["audit_log"] = conn.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"]
        counts["updated"] = conn.execute("SELECT max(updated_at) AS t FROM users").fetchone()["t"]
    return counts


def test_every_body_taking_identity_endpoint_is_covered():
    assert {(p, m) for p, m, _, _ in OPERATIONS} >= {("/api/v1/auth/login", "POST"),
                                                    ("/api/v1/trading/accounts", "POST"),
                                                    ("/api/v1/users/settings", "PATCH")}


@pytest.mark.parametrize(("path", "method", "function", "schema"), OPERATIONS,
                         ids=[f"{m} {p}" for p, m, _, _ in OPERATIONS])
def test_bad_bodies_are_refused_and_change_nothing(resources, user_factory, path, method, function, schema):
    user = user_factory(scopes=("read", "trade", "paper", "admin"))
    params = {"account_id": accounts.default_account(resources, user["id"])["id"], "user_id": user["id"],
              "key_id": apikeys.create(resources, user["id"], name="k", scopes=["read"])["id"]}
    concrete = path.format(**params)
    before = _counts(resources)
    for case, body in _bad_bodies(schema):
        reply = invoke(function, method, concrete, body, token=user["token"])
        assert reply.status in (400, 413, 422), f"{case}: {reply}"
        error = reply.json["error"]
        assert error["code"] and error["message"], case
        if case == "too_large":
            assert reply.status == 413
    assert _counts(resources) == before
