"""alerts: a user's alerts, notification channels, in-app inbox and inbound order hooks."""

from autostock import webhook_orders
from autostock.alerts import store
from autostock.contract import Request, Router
from autostock.notify import inbox, telegram, webhooks

router = Router()


@router.route("GET", "/api/v1/alerts")
def list_alerts(req: Request) -> tuple[int, dict]:
    return 200, {"items": store.list_alerts(req.resources, req.principal.user_id, req.query("symbol"))}


@router.route("POST", "/api/v1/alerts")
def create_alert(req: Request) -> tuple[int, dict]:
    return 201, store.create(req.resources, req.principal.user_id, req.json())


@router.route("GET", "/api/v1/alerts/<alert_id>")
def get_alert(req: Request) -> tuple[int, dict]:
    return 200, store.get(req.resources, req.principal.user_id, req.params["alert_id"])


@router.route("PATCH", "/api/v1/alerts/<alert_id>")
def update_alert(req: Request) -> tuple[int, dict]:
    return 200, store.update(req.resources, req.principal.user_id, req.params["alert_id"], req.json())


@router.route("DELETE", "/api/v1/alerts/<alert_id>")
def delete_alert(req: Request) -> tuple[int, dict]:
    store.delete(req.resources, req.principal.user_id, req.params["alert_id"])
    return 200, {"deleted": True}


@router.route("GET", "/api/v1/alerts/<alert_id>/firings")
def alert_firings(req: Request) -> tuple[int, dict]:
    return 200, {"items": store.firings(req.resources, req.principal.user_id, req.params["alert_id"])}


@router.route("GET", "/api/v1/notifications")
def list_notifications(req: Request) -> tuple[int, dict]:
    return 200, inbox.list_notifications(req.resources, req.principal.user_id,
                                         unread_only=req.query("unread") == "true",
                                         limit=req.query("limit"),
                                         before=req.query("before"))


@router.route("POST", "/api/v1/notifications/<notification_id>/read")
def mark_read(req: Request) -> tuple[int, dict]:
    inbox.mark_read(req.resources, req.principal.user_id, req.params["notification_id"])
    return 200, {"read": True}


@router.route("POST", "/api/v1/notifications/read-all")
def mark_all_read(req: Request) -> tuple[int, dict]:
    return 200, {"marked": inbox.mark_all_read(req.resources, req.principal.user_id)}


@router.route("GET", "/api/v1/notifications/settings")
def get_settings(req: Request) -> tuple[int, dict]:
    return 200, inbox.get_settings(req.resources, req.principal.user_id)


@router.route("PATCH", "/api/v1/notifications/settings")
def update_settings(req: Request) -> tuple[int, dict]:
    return 200, inbox.update_settings(req.resources, req.principal.user_id, req.json())


@router.route("POST", "/api/v1/notifications/telegram/link")
def telegram_link(req: Request) -> tuple[int, dict]:
    return 201, telegram.start_link(req.resources, req.principal.user_id)


@router.route("GET", "/api/v1/notifications/webhooks")
def list_webhooks(req: Request) -> tuple[int, dict]:
    return 200, {"items": webhooks.list_webhooks(req.resources, req.principal.user_id)}


@router.route("POST", "/api/v1/notifications/webhooks")
def create_webhook(req: Request) -> tuple[int, dict]:
    return 201, webhooks.create(req.resources, req.principal.user_id, req.json())


@router.route("DELETE", "/api/v1/notifications/webhooks/<webhook_id>")
def delete_webhook(req: Request) -> tuple[int, dict]:
    webhooks.delete(req.resources, req.principal.user_id, req.params["webhook_id"])
    return 200, {"deleted": True}


@router.route("GET", "/api/v1/notifications/deliveries")
def delivery_log(req: Request) -> tuple[int, dict]:
    return 200, {"items": webhooks.deliveries(req.resources, req.principal.user_id)}


@router.route("GET", "/api/v1/webhooks/hooks")
def list_hooks(req: Request) -> tuple[int, dict]:
    return 200, {"items": webhook_orders.list_hooks(req.resources, req.principal.user_id)}


@router.route("POST", "/api/v1/webhooks/hooks")
def create_hook(req: Request) -> tuple[int, dict]:
    return 201, webhook_orders.create_hook(req.resources, req.principal.user_id, req.json())


@router.route("DELETE", "/api/v1/webhooks/hooks/<hook_id>")
def delete_hook(req: Request) -> tuple[int, dict]:
    webhook_orders.delete_hook(req.resources, req.principal.user_id, req.params["hook_id"])
    return 200, {"deleted": True}


@router.route("GET", "/api/v1/webhooks/hooks/<hook_id>/calls")
def hook_calls(req: Request) -> tuple[int, dict]:
    return 200, {"items": webhook_orders.calls(req.resources, req.principal.user_id, req.params["hook_id"])}


handle = router.handle
