"""market-clock: the platform's clock (cron, every minute) — runs the named tasks that are due."""

from autostock import timetable
from autostock.contract import Request, Router

router = Router()


@router.route("POST", "/")
def tick(req: Request) -> tuple[int, dict]:
    timetable.require_connector(req.headers)
    return 200, timetable.run_due(req.resources, only=req.query("task"))


handle = router.handle
