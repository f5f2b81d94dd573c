"""The REST checks of an access token for long-lived connections (the market stream):
`verify_access_token` at connect, `still_standing` for many connections at once, neither
counted against the user's rate limit or quota."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from autostock import ratelimit
from autostock.auth import standing, still_standing, users, verify_access_token
from autostock.auth.tokens import issue_access_token, principal_from_claims, revoke_jti, revoke_session
from autostock.errors import AuthError


class CountingRedis:
    """The Redis client, counting the calls that go to the server (a pipeline counts once)."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, 0

    def __getattr__(self, name):
        self.calls += 1
        return getattr(self.client, name)


def _principal(settings, user_id, session_id=None):
    return principal_from_claims(issue_access_token(settings, user_id, ["read"], session_id=session_id)[1])


def test_verify_access_token_checks_as_authenticate_does_but_counts_nothing(resources, user_factory):
    settings = resources.settings
    user, admin = user_factory(), user_factory(scopes=("read", "admin"))
    assert verify_access_token(resources, user["token"]).user_id == user["id"]
    minute, day = ratelimit.user_windows(settings, user["id"], 0)
    assert resources.redis.exists(minute.key, day.key) == 0
    session = str(uuid.uuid4())
    token, _ = issue_access_token(settings, user["id"], ["read"], session_id=session)
    revoke_session(settings, resources.redis, session)
    with pytest.raises(AuthError) as e:
        verify_access_token(resources, token)
    assert e.value.code == "token_revoked"
    users.set_permissions(resources, admin["id"], user["id"], is_active=False)
    with pytest.raises(AuthError) as e:
        verify_access_token(resources, user["token"])
    assert e.value.code == "user_inactive"


def test_still_standing_checks_many_connections_with_one_redis_read(resources, user_factory, monkeypatch):
    settings = resources.settings
    alice, bob, carol, admin = (user_factory()["id"] for _ in range(4))
    sessions = [str(uuid.uuid4()) for _ in range(3)]
    principals = [_principal(settings, alice, sessions[0]), _principal(settings, alice, sessions[1]),
                  _principal(settings, alice), _principal(settings, bob, sessions[2]),
                  _principal(settings, bob), _principal(settings, carol), _principal(settings, str(uuid.uuid4()))]
    revoke_session(settings, resources.redis, sessions[1])
    revoke_jti(settings, resources.redis, principals[4].jti, principals[4].expires_at)
    users.set_permissions(resources, admin, carol, is_active=False)

    queries = []
    real_service = standing.db.service
    monkeypatch.setattr(standing.db, "service", lambda pool: queries.append(1) or real_service(pool))
    counting = CountingRedis(resources.redis)
    cold = still_standing(dataclasses.replace(resources, redis=counting), principals)
    expected = [None, "token_revoked", None, None, "token_revoked", "user_inactive", "user_inactive"]
    assert [p and p.code for p in cold] == expected
    assert len(queries) == 1 and counting.calls == 2             # the standings not cached: one query, one SET pipeline

    counting.calls = 0
    warm = still_standing(dataclasses.replace(resources, redis=counting, pool=None), principals)
    assert [p and p.code for p in warm] == expected
    assert counting.calls == 1 and len(queries) == 1             # cached: one MGET, no database
