"""place-order: POST /api/v1/trading/orders — idempotent order entry (validate → risk → broker)."""

from autostock import orders
from autostock.auth import require_scope
from autostock.contract import Request, Router

router = Router()


@router.route("POST", "/api/v1/trading/orders")
def place(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "trade")
    return orders.place_order(orders.current(req.resources), req.principal.user_id, req.json(),
                              req.headers.get("idempotency-key"))


handle = router.handle
