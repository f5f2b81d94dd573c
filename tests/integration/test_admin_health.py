from tests.helpers import invoke


def test_health_reports_all_three_services(resources):
    r = invoke("admin", "GET", "/api/v1/health")
    assert r.status == 200, r
    services = r.json["services"]
    assert set(services) == {"postgres", "redis", "nats"}
    assert all(s["ok"] and s["version"] for s in services.values())
