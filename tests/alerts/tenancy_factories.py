"""Alerts' entries in the tenancy registry (see tests/tenancy.py)."""

import uuid

from autostock import db
from autostock.alerts import store
from autostock.notify import webhooks
from tests.tenancy import exempt, factory

ALERT = {"symbol": "005930", "kind": "price_above", "params": {"price": 70000}, "channels": ["in_app"]}


@factory("/api/v1/alerts/{alert_id}", bodies={"patch": {"note": "mine"}})
def alert(resources, owner):
    return {"alert_id": store.create(resources, owner["id"], dict(ALERT))["id"]}


@factory("/api/v1/alerts/{alert_id}/firings")
def alert_firings(resources, owner):
    return alert(resources, owner)


@factory("/api/v1/notifications/webhooks/{webhook_id}")
def webhook(resources, owner):
    return {"webhook_id": webhooks.create(resources, owner["id"], {"url": "https://example.com/hook"})["id"]}


@factory("/api/v1/notifications/{notification_id}/read")
def notification(resources, owner):
    with db.tenant(resources.pool, owner["id"]) as conn:
        row = conn.execute("INSERT INTO notifications (user_id, kind, dedup_key, title, body)"
                           " VALUES (%s, 'system', %s, 't', 'b') RETURNING id",
                           (owner["id"], uuid.uuid4().hex)).fetchone()
    return {"notification_id": str(row["id"])}


@factory("/api/v1/webhooks/hooks/{hook_id}")
def order_hook(resources, owner):
    from autostock import accounts, webhook_orders
    account = accounts.default_account(resources, owner["id"])
    return {"hook_id": webhook_orders.create_hook(resources, owner["id"], {"account_id": account["id"]})["id"]}


@factory("/api/v1/webhooks/hooks/{hook_id}/calls")
def order_hook_calls(resources, owner):
    return order_hook(resources, owner)


exempt("/api/v1/webhooks/orders/{hook_id}",
       "inbound signals are authenticated by the hook's own HMAC secret, not a user token (tests/alerts)")
