"""run-backtest: strategy catalogue, runs (sync or rq job), optimisation, the caller's results."""

from autostock.backtest import service
from autostock.contract import Request, Router

router = Router()
BASE = "/api/v1/backtest"


@router.route("GET", f"{BASE}/strategies")
def strategies(req: Request) -> tuple:
    return service.strategies()


@router.route("POST", f"{BASE}/run")
def run(req: Request) -> tuple:
    return service.run(req.resources, req.principal.user_id, req.json())


@router.route("POST", f"{BASE}/optimize")
def optimize(req: Request) -> tuple:
    return service.optimize(req.resources, req.principal.user_id, req.json())


@router.route("GET", f"{BASE}/results")
def results(req: Request) -> tuple:
    return service.results(req.resources, req.principal.user_id, req.query("limit"))


@router.route("GET", f"{BASE}/results/<result_id>")
def result(req: Request) -> tuple:
    return service.result(req.resources, req.principal.user_id, req.params["result_id"])


@router.route("DELETE", f"{BASE}/results/<result_id>")
def delete(req: Request) -> tuple:
    return service.delete(req.resources, req.principal.user_id, req.params["result_id"])


@router.route("POST", f"{BASE}/results/<result_id>/cancel")
def cancel(req: Request) -> tuple:
    return service.cancel(req.resources, req.principal.user_id, req.params["result_id"])


@router.route("GET", f"{BASE}/results/<result_id>/chart")
def chart(req: Request) -> tuple:
    return service.chart(req.resources, req.principal.user_id, req.params["result_id"])


handle = router.handle
