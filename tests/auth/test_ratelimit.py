"""Rate limits and quotas answer 429 with Retry-After and reset when their window ends."""

import time
import uuid

import pytest

from autostock import db, ratelimit
from autostock.auth import lockout
from autostock.errors import RateLimited
from tests.helpers import eventually, invoke


def test_daily_quota_gives_429_until_the_korean_midnight(resources, user_factory):
    user = user_factory(api_calls_limit=3)
    for _ in range(3):
        assert invoke("auth", "GET", "/api/v1/auth/me", token=user["token"]).status == 200
    over = invoke("auth", "GET", "/api/v1/auth/me", token=user["token"])
    assert over.status == 429 and over.error_code == "quota_exceeded"
    now = time.time()
    to_midnight = 86400 - (int(now) + 9 * 3600) % 86400
    assert abs(int(over.headers["retry-after"]) - to_midnight) <= 2
    # Tomorrow (KST) is a new window.
    tomorrow = ratelimit.kst_day_window(resources.settings, f"user:{user['id']}", 3, now + to_midnight + 1)
    ratelimit.hit(resources.redis, tomorrow)


def test_minute_window_refuses_without_counting_and_resets_next_minute(resources):
    subject = f"test:{uuid.uuid4().hex}"
    t = 1_800_000_000 + 10.0  # 10 s into a minute
    window = ratelimit.minute_window(resources.settings, subject, 2, t)
    ratelimit.hit(resources.redis, window)
    ratelimit.hit(resources.redis, window)
    with pytest.raises(RateLimited) as e:
        ratelimit.hit(resources.redis, window)
    assert e.value.headers["Retry-After"] == str(e.value.retry_after) and 1 <= e.value.retry_after <= 60
    assert int(resources.redis.get(window.key)) == 2  # the refused call was not counted
    ratelimit.hit(resources.redis, ratelimit.minute_window(resources.settings, subject, 2, t + 60))


def test_per_user_minute_limit_through_a_handler(resources, user_factory):
    settings, user = resources.settings, user_factory()
    limit, now = settings.rate_limit_user_per_minute, time.time()
    for t in (now, now + 60):  # this minute and the next, in case the clock turns meanwhile
        window = ratelimit.minute_window(settings, f"user:{user['id']}", limit, t)
        resources.redis.set(window.key, limit, ex=120)  # the user already spent the minute's calls
    over = invoke("auth", "GET", "/api/v1/auth/me", token=user["token"])
    assert over.status == 429 and over.error_code == "rate_limited" and int(over.headers["retry-after"]) >= 1


def test_failed_logins_back_off_then_lock(resources, registered, login):
    user = registered()
    ip = f"172.16.{uuid.uuid4().int % 250}.9"

    def attempt(password):
        return invoke("auth", "POST", "/api/v1/auth/login", {"username": user["username"], "password": password},
                      headers={"X-Real-IP": ip})

    for _ in range(lockout.ACCOUNT_POLICY[0] + 1):
        assert attempt("wrong password!").status == 401
    slowed = attempt(user["password"])
    assert slowed.status == 429 and slowed.error_code == "login_backoff" and slowed.headers["retry-after"] == "1"
    # The back-off ends by itself, and a correct password then clears the count.
    eventually(lambda: attempt(user["password"]).status == 200, timeout=5)
    for _ in range(lockout.ACCOUNT_POLICY[1]):
        lockout.fail(resources.settings, resources.redis, user["username"], "192.0.2.1")
    locked = attempt(user["password"])
    assert locked.status == 429 and locked.error_code == "login_locked"
    assert int(locked.headers["retry-after"]) > 800


def test_per_ip_limit_on_unauthenticated_calls(resources):
    tight = resources.settings.with_overrides(rate_limit_ip_per_minute=2)
    ip = f"198.51.100.{uuid.uuid4().int % 250}"
    ratelimit.admit_ip(tight, resources.redis, ip, "test")
    ratelimit.admit_ip(tight, resources.redis, ip, "test")
    with pytest.raises(RateLimited):
        ratelimit.admit_ip(tight, resources.redis, ip, "test")


def test_deactivation_stops_tokens_at_the_next_call(resources, user_factory):
    user = user_factory()
    assert invoke("auth", "GET", "/api/v1/auth/me", token=user["token"]).status == 200
    admin = user_factory(scopes=("read", "admin"))
    off = invoke("admin", "POST", f"/api/v1/admin/users/{user['id']}/deactivate", token=admin["token"])
    assert off.status == 200 and off.json["is_active"] is False
    assert invoke("auth", "GET", "/api/v1/auth/me", token=user["token"]).error_code == "user_inactive"
    invoke("admin", "POST", f"/api/v1/admin/users/{user['id']}/activate", token=admin["token"])
    assert invoke("auth", "GET", "/api/v1/auth/me", token=user["token"]).status == 200
    with db.service(resources.pool) as conn:
        events = conn.execute("SELECT event, actor_id FROM audit_log WHERE user_id = %s", (user["id"],)).fetchall()
    assert [e["event"] for e in events].count("user.permissions_changed") == 2
    assert all(str(e["actor_id"]) == admin["id"] for e in events)
