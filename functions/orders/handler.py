"""orders: list/get/cancel/modify orders, positions, fills history; applies `orders.fill` events."""

from autostock import orders
from autostock.auth import require_scope
from autostock.contract import Request, Router, require_internal

router = Router()
ORDER_FILTERS = ("status", "symbol", "side", "account_id", "from", "to", "cursor", "limit")


def _reader(req: Request) -> str:
    require_scope(req.principal, "read")
    return req.principal.user_id


def _trader(req: Request) -> str:
    require_scope(req.principal, "trade")
    return req.principal.user_id


@router.route("GET", "/api/v1/trading/orders")
def list_orders(req: Request) -> tuple[int, dict]:
    filters = {name: req.query(name) for name in ORDER_FILTERS}
    return 200, orders.list_orders(orders.current(req.resources), _reader(req), filters)


@router.route("GET", "/api/v1/trading/orders/<order_id>")
def get_order(req: Request) -> tuple[int, dict]:
    return 200, orders.get_order(orders.current(req.resources), _reader(req), req.params["order_id"])


@router.route("POST", "/api/v1/trading/orders/<order_id>/cancel")
def cancel(req: Request) -> tuple[int, dict]:
    return 200, orders.cancel_order(orders.current(req.resources), _trader(req), req.params["order_id"])


@router.route("PATCH", "/api/v1/trading/orders/<order_id>")
def modify(req: Request) -> tuple[int, dict]:
    body = orders.parse_modify(req.json())
    return 200, orders.modify_order(orders.current(req.resources), _trader(req), req.params["order_id"], **body)


@router.route("GET", "/api/v1/trading/positions")
def positions(req: Request) -> tuple[int, dict]:
    return 200, orders.positions(orders.current(req.resources), _reader(req), req.query("account_id"))


@router.route("GET", "/api/v1/trading/history")
def history(req: Request) -> tuple[int, dict]:
    filters = {name: req.query(name) for name in ORDER_FILTERS}
    return 200, orders.fills_history(orders.current(req.resources), _reader(req), filters)


@router.route("POST", "/")
def fill_event(req: Request) -> tuple[int, dict]:
    """The NATS connector's delivery of `orders.fill` (an internal call, never public)."""
    require_internal(req)
    return 200, orders.on_fill_message(orders.current(req.resources), req.headers.get("x-topic") or "",
                                       req.event.body)


handle = router.handle
