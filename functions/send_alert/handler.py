"""send-alert: NATS-triggered (bars.1m.>, orders.filled, orders.rejected, alerts.fired)."""

from autostock.alerts import dispatch
from autostock.contract import Request, Router, require_internal

router = Router()


@router.route("POST", "/")
def on_message(req: Request) -> tuple[int, dict]:
    require_internal(req)
    return 200, dispatch.on_message(req.resources, req.headers.get("x-topic") or "", req.event.body)


handle = router.handle
