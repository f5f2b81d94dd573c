"""market: symbol search, chart bars (day/week/month/minute) and indicators under /api/v1/market."""

from autostock.contract import Request, Router
from autostock.market import charts, symbols

router = Router()


def _limit(req: Request) -> int:
    raw = req.query("limit") or "20"
    return int(raw) if raw.isdigit() else 20


@router.route("GET", "/api/v1/market/stocks")
def search_stocks(req: Request) -> tuple[int, dict]:
    user = req.principal.user_id
    return 200, {"stocks": symbols.search(req.resources.pool, user, req.query("q") or "",
                                          market=req.query("market"), limit=_limit(req))}


@router.route("GET", "/api/v1/market/stocks/<code>")
def get_stock(req: Request) -> tuple[int, dict]:
    return 200, symbols.get(req.resources.pool, req.principal.user_id, req.params["code"])


@router.route("GET", "/api/v1/market/charts")
def get_chart(req: Request) -> tuple[int, dict]:
    return 200, charts.bars(req.resources.pool, req.principal.user_id, req.query("symbol") or "",
                            req.query("interval") or "1d", charts.parse_day(req.query("start"), "start"),
                            charts.parse_day(req.query("end"), "end"))


@router.route("GET", "/api/v1/market/indicators")
def get_indicators(req: Request) -> tuple[int, dict]:
    return 200, charts.compute(req.resources.pool, req.principal.user_id, req.query("symbol") or "",
                               req.query("indicators"), req.query("interval") or "1d",
                               charts.parse_day(req.query("start"), "start"), charts.parse_day(req.query("end"), "end"))


handle = router.handle
