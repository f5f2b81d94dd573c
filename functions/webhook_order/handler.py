"""webhook-order: POST /api/v1/webhooks/orders/<hook id> — a signed signal becomes one order.

The caller authenticates with the hook's secret (signature or token), not a user login.
"""

from autostock import webhook_orders
from autostock.contract import Request, Router

router = Router()


@router.route("POST", "/api/v1/webhooks/orders/<hook_id>")
def receive(req: Request) -> tuple[int, dict]:
    return webhook_orders.receive(req.resources, req.params["hook_id"], req.headers, req.event.body)


handle = router.handle
