"""Admin: users, permissions (real trading granted only by an admin), the audit log."""

from tests.helpers import invoke


def test_only_admins_reach_admin_paths(user_factory):
    plain = user_factory()
    for method, path in (("GET", "/api/v1/admin/users"), ("GET", "/api/v1/admin/audit"),
                         ("POST", f"/api/v1/admin/users/{plain['id']}/deactivate")):
        reply = invoke("admin", method, path, token=plain["token"])
        assert reply.status == 403 and reply.error_code == "missing_scope", path


def test_admin_grants_real_trading_and_reads_the_audit_log(resources, user_factory, registered, login):
    admin = user_factory(scopes=("read", "admin"))
    user = registered()
    token = login(user).json["access_token"]
    assert "real" not in invoke("auth", "GET", "/api/v1/auth/me", token=token).json["scopes"]
    granted = invoke("admin", "PATCH", f"/api/v1/admin/users/{user['id']}/permissions",
                     {"can_real_trade": True, "api_calls_limit": 5000}, token=admin["token"])
    assert granted.status == 200 and granted.json["can_real_trade"] is True
    # The next login carries the new scope.
    assert "real" in login(user).json["scope"].split()
    users = invoke("admin", "GET", "/api/v1/admin/users", token=admin["token"], query={"limit": "500"}).json["users"]
    assert user["id"] in {u["id"] for u in users}
    log = invoke("admin", "GET", "/api/v1/admin/audit", token=admin["token"], query={"user_id": user["id"]}).json
    events = [e["event"] for e in log["events"]]
    assert {"user.registered", "auth.login", "user.permissions_changed", "account.created"} <= set(events)
    change = next(e for e in log["events"] if e["event"] == "user.permissions_changed")
    assert change["details"]["can_real_trade"] == {"from": False, "to": True}
    assert invoke("admin", "GET", "/api/v1/admin/audit", token=admin["token"],
                  query={"limit": "lots"}).status == 400
    assert invoke("admin", "PATCH", f"/api/v1/admin/users/{user['id']}/permissions", {"is_admin": "yes"},
                  token=admin["token"]).status == 400
    missing = invoke("admin", "PATCH", "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/permissions",
                     {"is_verified": True}, token=admin["token"])
    assert missing.status == 404
