"""strategies: deploy a backtest strategy live on one of the caller's accounts; pause, resume, log."""

from autostock.backtest import deployments
from autostock.contract import Request, Router

router = Router()
BASE = "/api/v1/strategies"


@router.route("GET", BASE)
def listing(req: Request) -> tuple:
    return deployments.listing(req.resources, req.principal.user_id)


@router.route("POST", BASE)
def deploy(req: Request) -> tuple:
    return deployments.deploy(req.resources, req.principal.user_id, req.json())


@router.route("GET", f"{BASE}/<deployment_id>")
def get(req: Request) -> tuple:
    return deployments.get(req.resources, req.principal.user_id, req.params["deployment_id"])


@router.route("POST", f"{BASE}/<deployment_id>/pause")
def pause(req: Request) -> tuple:
    return deployments.set_status(req.resources, req.principal.user_id, req.params["deployment_id"], "paused")


@router.route("POST", f"{BASE}/<deployment_id>/resume")
def resume(req: Request) -> tuple:
    return deployments.set_status(req.resources, req.principal.user_id, req.params["deployment_id"], "active")


@router.route("DELETE", f"{BASE}/<deployment_id>")
def delete(req: Request) -> tuple:
    return deployments.delete(req.resources, req.principal.user_id, req.params["deployment_id"])


@router.route("GET", f"{BASE}/<deployment_id>/evaluations")
def evaluations(req: Request) -> tuple:
    return deployments.evaluations(req.resources, req.principal.user_id, req.params["deployment_id"],
                                   req.query("limit"))


handle = router.handle
