"""Personal API keys: shown once, stored hashed, scoped, revocable, optionally HMAC-signed."""

import json
import time
import uuid

import pytest

from autostock import accounts, db
from autostock.auth import authenticate, require_scope, signing
from autostock.contract import Event
from autostock.errors import Forbidden
from tests.helpers import invoke


def _key(token, **body):
    reply = invoke("auth", "POST", "/api/v1/users/api-keys", {"name": "bot", "scopes": ["read"], **body}, token=token)
    assert reply.status == 201, reply
    return reply.json


def test_key_is_shown_once_stored_hashed_and_revocable(resources, user_factory):
    user = user_factory()
    created = _key(user["token"])
    listed = invoke("auth", "GET", "/api/v1/users/api-keys", token=user["token"]).json["api_keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE id = %s", (created["id"],)).fetchone()
    assert created["key"].split("_", 2)[2] not in json.dumps(row, default=str)

    for headers in ({"X-API-Key": created["key"]}, {"Authorization": f"ApiKey {created['key']}"}):
        me = invoke("auth", "GET", "/api/v1/auth/me", headers=headers)
        assert me.status == 200 and me.json["scopes"] == ["read"] and me.json["via"] == "api_key"
    listed = invoke("auth", "GET", "/api/v1/users/api-keys", token=user["token"]).json["api_keys"]
    assert listed[0]["last_used_at"] is not None
    # An API key cannot manage credentials, even its own kind.
    assert invoke("auth", "POST", "/api/v1/users/api-keys", {"name": "x", "scopes": ["read"]},
                  headers={"X-API-Key": created["key"]}).error_code == "session_required"

    assert invoke("auth", "DELETE", f"/api/v1/users/api-keys/{created['id']}", token=user["token"]).status == 200
    assert invoke("auth", "GET", "/api/v1/auth/me", headers={"X-API-Key": created["key"]}).status == 401
    forged = created["key"][:-4] + "AAAA"
    assert invoke("auth", "GET", "/api/v1/auth/me", headers={"X-API-Key": forged}).status == 401


def test_trade_key_gets_the_users_trading_scopes(user_factory):
    user = user_factory()
    key = _key(user["token"], scopes=["read", "trade"])["key"]
    me = invoke("auth", "GET", "/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.json["scopes"] == ["paper", "read", "trade"]  # no real: not granted to this user


def _signed(secret, method, path, body=b"", nonce=None, ts=None):
    ts = str(int(ts if ts is not None else time.time()))
    nonce = nonce or uuid.uuid4().hex
    return {"X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": signing.signature(secret, ts, method, path, nonce, body)}


def test_signed_key_needs_a_fresh_unreplayed_signature_on_state_changing_calls(resources, user_factory):
    user = user_factory()
    created = _key(user["token"], signed=True)
    secret, key = created["signing_secret"], created["key"]
    account = accounts.default_account(resources, user["id"])
    path = f"/api/v1/trading/accounts/{account['id']}/test"
    base = {"X-API-Key": key}
    assert invoke("auth", "GET", "/api/v1/auth/me", headers=base).status == 200  # reads need no signature
    assert invoke("accounts", "POST", path, headers=base).error_code == "signature_required"
    good = _signed(secret, "POST", path, nonce="nonce-" + uuid.uuid4().hex)
    assert invoke("accounts", "POST", path, headers={**base, **good}).status == 200
    assert invoke("accounts", "POST", path, headers={**base, **good}).error_code == "nonce_reused"
    stale = _signed(secret, "POST", path, ts=time.time() - 301)
    assert invoke("accounts", "POST", path, headers={**base, **stale}).error_code == "signature_expired"
    other_path = _signed(secret, "POST", "/api/v1/trading/accounts")
    assert invoke("accounts", "POST", path, headers={**base, **other_path}).error_code == "invalid_signature"


def test_ip_allowlist_limits_trading_scopes_only(resources, user_factory):
    user = user_factory()
    reply = invoke("auth", "PATCH", "/api/v1/users/settings", {"ip_allowlist": ["192.168.10.0/24"]},
                   token=user["token"])
    assert reply.status == 200 and reply.json["ip_allowlist"] == ["192.168.10.0/24"]
    headers = {"Authorization": f"Bearer {user['token']}"}
    inside = authenticate(resources, Event(headers={**headers, "X-Real-IP": "192.168.10.7"}))
    require_scope(inside, "trade")
    outside = authenticate(resources, Event(headers={**headers, "X-Real-IP": "203.0.113.9"}))
    require_scope(outside, "read")
    with pytest.raises(Forbidden) as e:
        require_scope(outside, "trade")
    assert e.value.code == "ip_not_allowed"
    assert invoke("auth", "PATCH", "/api/v1/users/settings", {"ip_allowlist": ["not-an-ip"]},
                  token=user["token"]).status == 400
