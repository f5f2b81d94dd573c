"""Register → login → call → refresh (rotation) → reuse revokes the family → logout."""

from tests.helpers import invoke


def test_full_token_lifecycle(registered, login):
    user = registered()
    tokens = login(user).json
    assert tokens["token_type"] == "bearer" and {"read", "trade", "paper"} <= set(tokens["scope"].split())
    me = invoke("auth", "GET", "/api/v1/auth/me", token=tokens["access_token"])
    assert me.status == 200 and me.json["username"] == user["username"]
    assert me.headers["cache-control"] == "no-store"

    second = invoke("auth", "POST", "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert second.status == 200 and second.json["refresh_token"] != tokens["refresh_token"]
    # The new access token works; the old refresh token is now spent.
    assert invoke("auth", "GET", "/api/v1/auth/me", token=second.json["access_token"]).status == 200

    reuse = invoke("auth", "POST", "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert reuse.status == 401 and reuse.error_code == "refresh_reused"
    # Reuse revoked the whole family: the newest refresh token and its access token die too.
    assert invoke("auth", "POST", "/api/v1/auth/refresh",
                  {"refresh_token": second.json["refresh_token"]}).status == 401
    assert invoke("auth", "GET", "/api/v1/auth/me", token=second.json["access_token"]).error_code == "token_revoked"

    fresh = login(user).json
    out = invoke("auth", "POST", "/api/v1/auth/logout", {}, token=fresh["access_token"])
    assert out.status == 200
    gone = invoke("auth", "GET", "/api/v1/auth/me", token=fresh["access_token"])
    assert gone.status == 401 and gone.error_code == "token_revoked"
    assert invoke("auth", "POST", "/api/v1/auth/refresh", {"refresh_token": fresh["refresh_token"]}).status == 401


def test_register_gives_a_paper_account_and_refuses_duplicates_and_weak_passwords(registered, login):
    user = registered()
    token = login(user).json["access_token"]
    listed = invoke("accounts", "GET", "/api/v1/trading/accounts", token=token).json["accounts"]
    assert [(a["broker"], a["is_default"], a["starting_cash"]) for a in listed] == [("paper", True, 10_000_000)]
    dup = invoke("auth", "POST", "/api/v1/auth/register",
                 {"email": "other@example.com", "username": user["username"].upper(),
                  "password": "x" * 3 + "Abc!23456"})
    assert dup.status == 409 and dup.error_code == "user_exists"
    for weak in ("short1!", "password1234", "aaaaaaaaaaaa", "weakling-12345"):
        reply = invoke("auth", "POST", "/api/v1/auth/register",
                       {"email": "weak@example.com", "username": "weakling", "password": weak})
        assert reply.status == 400 and reply.error_code == "weak_password", weak


def test_login_by_email_and_wrong_password_same_answer(registered, login):
    user = registered()
    assert login({**user, "username": user["email"].upper()}).status == 200
    wrong = login({**user, "password": "not the password!"}, expect=401)
    unknown = login({**user, "username": "nobody_here"}, expect=401)
    assert wrong.error_code == unknown.error_code == "invalid_credentials"
    assert wrong.json["error"]["message"] == unknown.json["error"]["message"]
