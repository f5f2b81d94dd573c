"""portfolio: summary, performance (equity curve, drawdown, Sharpe, benchmark), analytics."""

from autostock import portfolio
from autostock.auth import require_scope
from autostock.contract import Request, Router

router = Router()


def _reader(req: Request) -> str:
    require_scope(req.principal, "read")
    return req.principal.user_id


@router.route("GET", "/api/v1/portfolio/summary")
def summary(req: Request) -> tuple[int, dict]:
    return 200, portfolio.summary(req.resources, _reader(req), req.query("account_id"))


@router.route("GET", "/api/v1/portfolio/performance")
def performance(req: Request) -> tuple[int, dict]:
    return 200, portfolio.performance(req.resources, _reader(req), account_id=req.query("account_id"),
                                      start=req.query("from"), end=req.query("to"),
                                      benchmark=req.query("benchmark", "KOSPI"))


@router.route("GET", "/api/v1/portfolio/analytics")
def analytics(req: Request) -> tuple[int, dict]:
    return 200, portfolio.analytics(req.resources, _reader(req), req.query("account_id"))


handle = router.handle
