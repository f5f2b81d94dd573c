"""admin: platform health (and, later, users, permissions, kill switch, audit log)."""

from autostock import health, openapi
from autostock.contract import Request, Router
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


handle = router.handle
