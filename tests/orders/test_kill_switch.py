"""Admin kill switch: blocks new orders, cancels open ones at the broker, audited, liftable."""

from __future__ import annotations

from autostock import db
from tests.helpers import invoke
from tests.orders.conftest import order_body

KILL = "/api/v1/admin/kill-switch"
PATH = "/api/v1/trading/orders"


def test_user_kill_switch_cancels_blocks_and_lifts(trader, listed, user_factory, resources):
    symbol = listed(price=70_000)
    user, other = trader(), trader()
    admin = user_factory(scopes=("read", "admin"), is_admin=True)
    resting = invoke("place-order", "POST", PATH, order_body(symbol, price=65_000), token=user["token"]).json
    bystander = invoke("place-order", "POST", PATH, order_body(symbol, price=65_000), token=other["token"]).json

    assert invoke("admin", "POST", KILL, {"scope": "user", "user_id": user["id"]},
                  token=user["token"]).status == 403, "only admins"
    reply = invoke("admin", "POST", KILL, {"scope": "user", "user_id": user["id"], "reason": "runaway bot"},
                   token=admin["token"])
    assert reply.status == 200, reply
    assert reply.json["cancel_requested"] == 1 and reply.json["kill_switch"]["active"]
    got = invoke("orders", "GET", f"{PATH}/{resting['id']}", token=user["token"]).json
    assert got["status"] == "cancelled"
    assert invoke("orders", "GET", f"{PATH}/{bystander['id']}", token=other["token"]).json["status"] == "accepted"

    blocked = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"])
    assert blocked.status == 403 and blocked.error_code == "kill_switch_user"
    assert invoke("place-order", "POST", PATH, order_body(symbol), token=other["token"]).status == 201

    listing = invoke("admin", "GET", KILL, token=admin["token"]).json["items"]
    assert [k["user_id"] for k in listing] == [user["id"]]
    again = invoke("admin", "POST", KILL, {"scope": "user", "user_id": user["id"]}, token=admin["token"])
    assert again.json["kill_switch"]["id"] == reply.json["kill_switch"]["id"], "engaging twice keeps one"

    lifted = invoke("admin", "POST", f"{KILL}/lift", {"scope": "user", "user_id": user["id"]},
                    token=admin["token"])
    assert lifted.status == 200 and not lifted.json["kill_switch"]["active"]
    assert invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"]).status == 201
    with db.service(resources.pool) as conn:
        events = [r["event"] for r in conn.execute(
            "SELECT event FROM audit_log WHERE user_id = %s AND actor_id = %s ORDER BY id",
            (user["id"], admin["id"])).fetchall()]
    assert events == ["platform.kill_switch_engaged", "platform.kill_switch_lifted"]


def test_kill_switch_input_errors(user_factory):
    admin = user_factory(scopes=("read", "admin"), is_admin=True)
    assert invoke("admin", "POST", KILL, {"scope": "galaxy"}, token=admin["token"]).error_code == "invalid_scope"
    assert invoke("admin", "POST", KILL, {"scope": "user"}, token=admin["token"]).status == 400
    assert invoke("admin", "POST", KILL, {"scope": "user", "user_id": "nobody"},
                  token=admin["token"]).status == 404
    assert invoke("admin", "POST", f"{KILL}/lift", {"scope": "global"},
                  token=admin["token"]).error_code == "kill_switch_not_active"
