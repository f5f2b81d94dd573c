"""admin: platform health, OpenAPI, users and permissions, the kill switch, the audit log."""

from autostock import audit, health, openapi, orders
from autostock.auth import client_ip, require_scope, users
from autostock.contract import Request, Router, query_int, require_fields
from autostock.errors import ServiceUnavailable

router = Router()


@router.route("GET", "/api/v1/health")
def get_health(req: Request) -> tuple[int, dict]:
    report = health.check(req.resources)
    if not report["ok"]:
        raise ServiceUnavailable("a data service is down", code="unhealthy", details=report)
    return 200, report


@router.route("GET", "/api/v1/openapi.json")
def get_openapi(req: Request) -> tuple[int, dict]:
    return 200, openapi.document(req.resources.settings.openapi_path)


# ---- identity: users, permissions, audit log (admin scope) ----

@router.route("GET", "/api/v1/admin/users")
def list_users(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, {"users": users.list_users(req.resources, limit=query_int(req, "limit", 100, low=1, high=500),
                                           offset=query_int(req, "offset", 0))}


@router.route("PATCH", "/api/v1/admin/users/<user_id>/permissions")
def set_permissions(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {}, {k: v for k, v in users.PERMISSIONS.items()})
    require_scope(req.principal, "admin")
    return 200, users.set_permissions(req.resources, req.principal.user_id, req.params["user_id"], **body,
                                      ip=client_ip(req.event))


@router.route("POST", "/api/v1/admin/users/<user_id>/activate")
def activate(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, users.set_permissions(req.resources, req.principal.user_id, req.params["user_id"],
                                      is_active=True, ip=client_ip(req.event))


@router.route("POST", "/api/v1/admin/users/<user_id>/deactivate")
def deactivate(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, users.set_permissions(req.resources, req.principal.user_id, req.params["user_id"],
                                      is_active=False, ip=client_ip(req.event))


@router.route("GET", "/api/v1/admin/audit")
def read_audit(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, {"events": audit.read(req.resources.pool, user_id=req.query("user_id"), event=req.query("event"),
                                      limit=query_int(req, "limit", 100, low=1, high=500),
                                      before_id=query_int(req, "before_id", 0) or None)}


# ---- kill switch (orders) ----
@router.route("GET", "/api/v1/admin/kill-switch")
def kill_switches(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, orders.kill_switch.active(orders.current(req.resources))


@router.route("POST", "/api/v1/admin/kill-switch")
def engage_kill_switch(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    body = orders.kill_switch.parse(req.json())
    return 200, orders.kill_switch.engage(orders.current(req.resources), req.principal.user_id, **body)


@router.route("POST", "/api/v1/admin/kill-switch/lift")
def lift_kill_switch(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    body = orders.kill_switch.parse(req.json())
    return 200, orders.kill_switch.lift(orders.current(req.resources), req.principal.user_id,
                                        scope=body["scope"], user_id=body["user_id"])
# ---- end kill switch (orders) ----


handle = router.handle
