"""What callers see of orders, fills and positions: JSON-ready dicts (ids and times as text)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from autostock.orders.lifecycle import OrderEvent


def _text(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (int, str, bool)):
        return value
    return str(value)


def order(row: dict[str, Any]) -> dict[str, Any]:
    """An order as the API shows it; `status` is the state (the seed's field name)."""
    remaining = int(row["quantity"]) - int(row["filled_quantity"]) - int(row["cancelled_quantity"])
    return {
        "id": str(row["id"]),
        "client_order_id": row["client_order_id"],
        "account_id": str(row["account_id"]),
        "symbol": row["symbol"],
        "market": row["market"],
        "product": row["product"],
        "side": row["side"],
        "order_type": row["order_type"],
        "time_in_force": row["time_in_force"],
        "quantity": int(row["quantity"]),
        "price": int(row["price"]),
        "status": row["state"],
        "filled_quantity": int(row["filled_quantity"]),
        "cancelled_quantity": int(row["cancelled_quantity"]),
        "remaining_quantity": max(0, remaining) if row["state"] not in ("filled", "cancelled", "rejected",
                                                                          "expired") else 0,
        "average_fill_price": int(row["average_fill_price"]),
        "fees": int(row["fees"]),
        "reserved_cash": int(row["reserved_cash"]),
        "reserved_quantity": int(row["reserved_quantity"]),
        "broker": row["broker"],
        "broker_order_id": row["broker_order_id"],
        "reject_code": row["reject_code"],
        "reject_reason": row["reject_reason"],
        "trading_day": _text(row["trading_day"]),
        "created_at": _text(row["created_at"]),
        "updated_at": _text(row["updated_at"]),
    }


def event_payload(event: OrderEvent) -> dict[str, Any]:
    """The NATS body of `orders.<event>`: the order, and whose it is."""
    return {"event": event.event, "user_id": str(event.order["user_id"]), "order": order(event.order)}


def fill(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]), "order_id": str(row["order_id"]), "account_id": str(row["account_id"]),
        "broker_fill_id": row["broker_fill_id"], "symbol": row["symbol"], "side": row["side"],
        "quantity": int(row["quantity"]), "price": int(row["price"]),
        "commission": int(row["commission"]), "tax": int(row["tax"]),
        "realized_pnl": int(row["realized_pnl"]), "filled_at": _text(row["filled_at"]),
    }


def position(row: dict[str, Any], last_price: int | None = None) -> dict[str, Any]:
    quantity = int(row["quantity"])
    basis = int(row["cost_basis"])
    out = {
        "account_id": str(row["account_id"]), "symbol": row["symbol"], "market": row["market"],
        "quantity": quantity, "average_cost": basis // quantity if quantity else 0,
        "cost_basis": basis, "realized_pnl": int(row["realized_pnl"]),
        "opened_at": _text(row.get("opened_at")),
    }
    if last_price is not None:
        value = quantity * last_price
        out.update(last_price=last_price, market_value=value, unrealized_pnl=value - basis)
    return out
