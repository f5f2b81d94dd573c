"""Every forged, stale or revoked access token gets 401 in the one error shape."""

import time

import jwt
import pytest

from autostock.auth.tokens import issue_access_token, revoke_jti
from tests.helpers import invoke


def _claims(settings, user_id, **changes):
    _, claims = issue_access_token(settings, user_id, ["read", "trade", "paper"])
    return {**claims, **changes}


def _key(settings):
    return settings.jwt_secret.reveal()


ATTACKS = {
    "alg_none": lambda s, c: jwt.encode(c, None, algorithm="none"),
    "other_algorithm": lambda s, c: jwt.encode(c, _key(s), algorithm="HS512"),
    "wrong_key": lambda s, c: jwt.encode(c, "another-secret-" * 4, algorithm="HS256"),
    "wrong_issuer": lambda s, c: jwt.encode({**c, "iss": "evil"}, _key(s), algorithm="HS256"),
    "wrong_audience": lambda s, c: jwt.encode({**c, "aud": "other-api"}, _key(s), algorithm="HS256"),
    "expired": lambda s, c: jwt.encode({**c, "exp": int(time.time()) - 10}, _key(s), algorithm="HS256"),
    "no_expiry": lambda s, c: jwt.encode({k: v for k, v in c.items() if k != "exp"}, _key(s), algorithm="HS256"),
    "tampered_payload": lambda s, c: _swap_payload(jwt.encode(c, _key(s), algorithm="HS256"),
                                                   {**c, "scope": "read trade real admin"}),
    "garbage": lambda s, c: "not.a.jwt",
    "empty_signature": lambda s, c: jwt.encode(c, _key(s), algorithm="HS256").rsplit(".", 1)[0] + ".",
}


def _swap_payload(token, claims):
    head, _, sig = token.split(".")
    body = jwt.utils.base64url_encode(jwt.api_jwt._jwt_global_obj._encode_payload(claims)).decode()
    return f"{head}.{body}.{sig}"


def _assert_401_shape(reply):
    assert reply.status == 401, reply
    error = reply.json["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert isinstance(error["code"], str) and isinstance(error["message"], str)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_forged_tokens_get_401_in_the_error_shape(resources, user_factory, attack):
    user = user_factory()
    token = ATTACKS[attack](resources.settings, _claims(resources.settings, user["id"]))
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me", token=token))


def test_missing_revoked_and_deactivated_callers_get_401(resources, user_factory):
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me"))
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}))
    user = user_factory()
    token, claims = issue_access_token(resources.settings, user["id"], ["read"])
    revoke_jti(resources.settings, resources.redis, claims["jti"], claims["exp"])
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me", token=token))
    ghost, _ = issue_access_token(resources.settings, "00000000-0000-0000-0000-000000000000", ["read"])
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me", token=ghost))


def test_scopes_in_a_token_never_exceed_the_users_permissions(resources, user_factory):
    user = user_factory()  # a plain user: read, trade, paper
    token, _ = issue_access_token(resources.settings, user["id"], ["read", "trade", "real", "admin"])
    me = invoke("auth", "GET", "/api/v1/auth/me", token=token)
    assert me.status == 200 and set(me.json["scopes"]) == {"read", "trade"}
    assert invoke("admin", "GET", "/api/v1/admin/users", token=token).status == 403


def test_a_token_that_verified_once_is_still_refused_once_it_expires_or_is_revoked(resources, user_factory,
                                                                                 monkeypatch):
    """Verified tokens are remembered per process; that must never extend what a token allows."""
    from types import SimpleNamespace

    from autostock.auth import tokens
    user = user_factory()
    token, claims = issue_access_token(resources.settings, user["id"], ["read"], ttl=60)
    assert invoke("auth", "GET", "/api/v1/auth/me", token=token).status == 200
    assert invoke("auth", "GET", "/api/v1/auth/me", token=token).status == 200   # the remembered path
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: claims["exp"] + 1))
    expired = invoke("auth", "GET", "/api/v1/auth/me", token=token)
    _assert_401_shape(expired)
    assert expired.json["error"]["code"] == "token_expired"
    monkeypatch.undo()
    # A one-character change to the remembered token is a different token: verified afresh.
    head, body, sig = token.split(".")
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me", token=f"{head}.{body}.{sig[:-2]}AA"))
    revoke_jti(resources.settings, resources.redis, claims["jti"], claims["exp"])
    _assert_401_shape(invoke("auth", "GET", "/api/v1/auth/me", token=token))
