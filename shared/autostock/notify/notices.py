"""Fill and rejection notices, written into the outbox inside the order's own transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from autostock.notify import messages, outbox


def fill(conn: psycopg.Connection, order: dict[str, Any], fill_row_id: int, quantity: int, price: int) -> None:
    """A fill of `order` was applied (row id `fill_row_id` in `fills`)."""
    texts = {language: messages.order_text(language, event="filled", code=order["symbol"], name=None,
                                           side=order["side"], quantity=quantity, price=price)
             for language in messages.LANGUAGES}
    outbox.enqueue_localized(conn, str(order["user_id"]), kind="fill", dedup_key=f"fill:{fill_row_id}",
                             texts=texts, switch="notify_fills",
                             payload={"order_id": str(order["id"]), "symbol": order["symbol"],
                                      "side": order["side"], "quantity": quantity, "price": price,
                                      "account_id": str(order["account_id"])})


def rejected(conn: psycopg.Connection, order: dict[str, Any]) -> None:
    """The broker (or reconciliation) rejected `order`."""
    reason = str(order.get("reject_reason") or order.get("reject_code") or "")
    texts = {language: messages.order_text(language, event="rejected", code=order["symbol"], name=None,
                                           side=order["side"], quantity=int(order["quantity"]), reason=reason)
             for language in messages.LANGUAGES}
    outbox.enqueue_localized(conn, str(order["user_id"]), kind="rejected", dedup_key=f"rejected:{order['id']}",
                             texts=texts, switch="notify_fills",
                             payload={"order_id": str(order["id"]), "symbol": order["symbol"], "reason": reason})
