"""market-clock: the platform's clock (cron, every minute) — runs the named tasks that are due."""

from autostock import timetable
from autostock.contract import Request, Router, require_internal

router = Router()


@router.route("POST", "/")
def tick(req: Request) -> tuple[int, dict]:
    require_internal(req)
    return 200, timetable.run_due(req.resources, only=req.query("task"))


handle = router.handle
