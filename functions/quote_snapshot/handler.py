"""quote-snapshot: GET /api/v1/market/quotes?codes=005930,000660 (up to 50 codes)."""

from autostock.contract import Request, Router
from autostock.market import snapshot

router = Router()


@router.route("GET", "/api/v1/market/quotes")
def get_quotes(req: Request) -> tuple[int, dict]:
    req.principal  # noqa: B018 - any signed-in user may read quotes; raises AuthError otherwise
    return 200, snapshot.quotes(req.resources, req.query("codes"))


handle = router.handle
