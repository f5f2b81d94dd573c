"""admin: platform health (and, later, users, permissions, kill switch, audit log)."""

from autostock import health, orders
from autostock.auth import require_scope
from autostock.orders import kill_switch
from autostock.contract import Request, Router
from autostock.errors import ServiceUnavailable

router = Router()


@router.route("GET", "/api/v1/health")
def get_health(req: Request) -> tuple[int, dict]:
    report = health.check(req.resources)
    if not report["ok"]:
        raise ServiceUnavailable("a data service is down", code="unhealthy", details=report)
    return 200, report


# ---- kill switch (orders) ----
@router.route("GET", "/api/v1/admin/kill-switch")
def kill_switches(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, kill_switch.active(orders.current(req.resources))


@router.route("POST", "/api/v1/admin/kill-switch")
def engage_kill_switch(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    return 200, kill_switch.engage(orders.current(req.resources), req.principal.user_id,
                                   **kill_switch.parse(req.json()))


@router.route("POST", "/api/v1/admin/kill-switch/lift")
def lift_kill_switch(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "admin")
    body = kill_switch.parse(req.json())
    return 200, kill_switch.lift(orders.current(req.resources), req.principal.user_id,
                                 scope=body["scope"], user_id=body["user_id"])
# ---- end kill switch (orders) ----


handle = router.handle
