import pytest

from tests.helpers import invoke

GOOD = {"symbol": "005930", "kind": "price_above", "params": {"price": 70000}, "channels": ["telegram", "in_app"]}


def test_crud_round_trip(user_factory):
    u = user_factory()
    created = invoke("alerts", "POST", "/api/v1/alerts", GOOD, token=u["token"])
    assert created.status == 201, created
    alert_id = created.json["id"]
    assert created.json["channels"] == ["in_app", "telegram"]
    assert invoke("alerts", "GET", f"/api/v1/alerts/{alert_id}", token=u["token"]).json["params"] == {"price": 70000}
    patched = invoke("alerts", "PATCH", f"/api/v1/alerts/{alert_id}", {"repeat": True, "cooldown_seconds": 60},
                     token=u["token"])
    assert patched.status == 200 and patched.json["repeat"] is True
    listed = invoke("alerts", "GET", "/api/v1/alerts", token=u["token"], query={"symbol": "005930"})
    assert [a["id"] for a in listed.json["items"]] == [alert_id]
    assert invoke("alerts", "DELETE", f"/api/v1/alerts/{alert_id}", token=u["token"]).status == 200
    assert invoke("alerts", "GET", f"/api/v1/alerts/{alert_id}", token=u["token"]).status == 404


@pytest.mark.parametrize("body,field", [
    ({**GOOD, "symbol": "5930"}, "symbol"),
    ({**GOOD, "kind": "moon_phase"}, "kind"),
    ({**GOOD, "params": {"price": -1}}, "params.price"),
    ({**GOOD, "params": {"price": 70000.5}}, "params.price"),
    ({**GOOD, "channels": ["carrier_pigeon"]}, "channels"),
    ({**GOOD, "cooldown_seconds": -5}, "cooldown_seconds"),
    ({**GOOD, "surprise": 1}, "surprise"),
    ({"symbol": "005930", "kind": "indicator", "params": {"name": "sma_cross_up", "fast": 30, "slow": 10}},
     "params.fast"),
    ({"symbol": "005930", "kind": "pct_change", "params": {"bp": 0}}, "params.bp"),
])
def test_bad_alerts_are_refused_and_nothing_is_stored(user_factory, body, field):
    u = user_factory()
    r = invoke("alerts", "POST", "/api/v1/alerts", body, token=u["token"])
    assert r.status == 400, r
    assert field in str(r.json["error"])
    assert invoke("alerts", "GET", "/api/v1/alerts", token=u["token"]).json["items"] == []


def test_another_users_alert_is_not_found(user_factory):
    a, b = user_factory(), user_factory()
    alert_id = invoke("alerts", "POST", "/api/v1/alerts", GOOD, token=a["token"]).json["id"]
    for method, body in (("GET", None), ("PATCH", {"note": "mine"}), ("DELETE", None)):
        assert invoke("alerts", method, f"/api/v1/alerts/{alert_id}", body, token=b["token"]).status == 404
    assert invoke("alerts", "GET", f"/api/v1/alerts/{alert_id}", token=a["token"]).json["note"] == ""


def test_requires_a_token():
    assert invoke("alerts", "GET", "/api/v1/alerts").status == 401
