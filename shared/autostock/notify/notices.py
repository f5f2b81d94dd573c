"""Fill and rejection notices, written into the outbox inside the order's own transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from autostock.notify import messages, outbox


def _texts(order: dict[str, Any], event: str, **fields: Any) -> dict[str, tuple[str, str]]:
    """(title, body) of the notice in every language; the outbox picks the user's."""
    return {language: messages.order_text(language, event=event, code=order["symbol"], name=None,
                                          side=order["side"], **fields) for language in messages.LANGUAGES}


def fill(conn: psycopg.Connection, order: dict[str, Any], fill_row_id: int, quantity: int, price: int) -> None:
    """A fill of `order` was applied (row id `fill_row_id` in `fills`)."""
    outbox.enqueue_localized(conn, str(order["user_id"]), kind="fill", dedup_key=f"fill:{fill_row_id}",
                             texts=_texts(order, "filled", quantity=quantity, price=price), switch="notify_fills",
                             payload={**_fill_payload(order, quantity, price), "order_id": str(order["id"])})


# `fill` for a statement that inserts the order (`created`) and its fill (`fill`) too: the
# notice's dedup key and order id come from those CTEs. Parameters: `fill_params`.
FILL_CTES = outbox.localized_ctes(
    "notify_fills", dedup="'fill:' || fill.id",
    payload="%(payload)s::jsonb || jsonb_build_object('order_id', (SELECT id FROM created)::text)", after=", fill")


def fill_params(order: dict[str, Any], quantity: int, price: int) -> dict[str, Any]:
    """FILL_CTES' parameters (`u` is the user's, which the fill's statement passes too)."""
    return outbox.localized_params(kind="fill", texts=_texts(order, "filled", quantity=quantity, price=price),
                                   payload=_fill_payload(order, quantity, price))


def _fill_payload(order: dict[str, Any], quantity: int, price: int) -> dict[str, Any]:
    return {"symbol": order["symbol"], "side": order["side"], "quantity": quantity, "price": price,
            "account_id": str(order["account_id"])}


def rejected(conn: psycopg.Connection, order: dict[str, Any]) -> None:
    """The broker (or reconciliation) rejected `order`."""
    reason = str(order.get("reject_reason") or order.get("reject_code") or "")
    outbox.enqueue_localized(conn, str(order["user_id"]), kind="rejected", dedup_key=f"rejected:{order['id']}",
                             texts=_texts(order, "rejected", quantity=int(order["quantity"]), reason=reason),
                             switch="notify_fills",
                             payload={"order_id": str(order["id"]), "symbol": order["symbol"], "reason": reason})
