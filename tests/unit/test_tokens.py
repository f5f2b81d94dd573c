import time

import jwt
import pytest

from autostock.auth.tokens import decode_access_token, issue_access_token
from autostock.config import load_settings
from autostock.errors import AuthError

S = load_settings({"DATABASE_URL": "x", "REDIS_URL": "x", "NATS_URL": "x",
                   "JWT_SECRET": "k" * 40, "ENCRYPTION_KEYS": "x"}, secrets_dir="/nonexistent")


def test_round_trip_carries_required_claims():
    token, claims = issue_access_token(S, "u1", ["read", "trade"])
    decoded = decode_access_token(S, token)
    assert decoded["sub"] == "u1" and decoded["scope"] == "read trade"
    assert {"jti", "iat", "exp", "iss", "aud"} <= set(decoded)


@pytest.mark.parametrize("forge", [
    lambda c: jwt.encode(c, None, algorithm="none"),
    lambda c: jwt.encode(c, "k" * 40, algorithm="HS512"),
    lambda c: jwt.encode(c, "wrong-key" * 5, algorithm="HS256"),
    lambda c: jwt.encode({**c, "iss": "evil"}, "k" * 40, algorithm="HS256"),
    lambda c: jwt.encode({**c, "aud": "other"}, "k" * 40, algorithm="HS256"),
    lambda c: jwt.encode({**c, "exp": int(time.time()) - 5}, "k" * 40, algorithm="HS256"),
    lambda c: jwt.encode({k: v for k, v in c.items() if k != "jti"}, "k" * 40, algorithm="HS256"),
])
def test_forged_tokens_are_refused(forge):
    _, claims = issue_access_token(S, "u1", ["read"])
    with pytest.raises(AuthError):
        decode_access_token(S, forge(claims))
