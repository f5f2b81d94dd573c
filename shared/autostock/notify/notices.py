"""Fill and rejection notices, written into the outbox inside the order's own transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from autostock.notify import messages, outbox


def _wants_fills(conn: psycopg.Connection, user_id: str) -> tuple[bool, str]:
    row = conn.execute("SELECT language, notify_fills FROM notification_settings WHERE user_id = %s",
                       (user_id,)).fetchone()
    return (row["notify_fills"], row["language"]) if row else (True, "ko")


def fill(conn: psycopg.Connection, order: dict[str, Any], fill_row_id: int, quantity: int, price: int) -> None:
    """A fill of `order` was applied (row id `fill_row_id` in `fills`)."""
    user_id = str(order["user_id"])
    wanted, language = _wants_fills(conn, user_id)
    title, body = messages.order_text(language, event="filled", code=order["symbol"], name=None,
                                      side=order["side"], quantity=quantity, price=price)
    outbox.enqueue(conn, user_id, kind="fill", dedup_key=f"fill:{fill_row_id}", title=title, body=body,
                   channels=None if wanted else [],
                   payload={"order_id": str(order["id"]), "symbol": order["symbol"], "side": order["side"],
                            "quantity": quantity, "price": price, "account_id": str(order["account_id"])})


def rejected(conn: psycopg.Connection, order: dict[str, Any]) -> None:
    """The broker (or reconciliation) rejected `order`."""
    user_id = str(order["user_id"])
    wanted, language = _wants_fills(conn, user_id)
    reason = str(order.get("reject_reason") or order.get("reject_code") or "")
    title, body = messages.order_text(language, event="rejected", code=order["symbol"], name=None,
                                      side=order["side"], quantity=int(order["quantity"]), reason=reason)
    outbox.enqueue(conn, user_id, kind="rejected", dedup_key=f"rejected:{order['id']}", title=title, body=body,
                   channels=None if wanted else [],
                   payload={"order_id": str(order["id"]), "symbol": order["symbol"], "reason": reason})
