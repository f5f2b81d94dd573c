"""The kill switch: an admin halts trading for one user or for everyone.

Engaging it blocks new orders at once (risk.check_kill_switches reads the active rows inside
every order's transaction), then cancels the affected open orders at their brokers. Lifting
it lets orders through again. Both are written to the audit log with the admin as the actor.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from autostock import audit, db, risk
from autostock.errors import AppError, NotFound, ValidationError
from autostock.orders import lifecycle
from autostock.orders.changes import cancel_order
from autostock.orders.desk import Desk
from autostock.orders.directory import _UUID

log = logging.getLogger("autostock.orders.kill_switch")


class Event(str, enum.Enum):
    """Audit events of this module (audit.record takes any enum with a string value)."""

    ENGAGED = "platform.kill_switch_engaged"
    LIFTED = "platform.kill_switch_lifted"


def _target(scope: str, user_id: str | None) -> str | None:
    if scope not in ("global", "user"):
        raise ValidationError("scope must be 'global' or 'user'", code="invalid_scope",
                              details={"fields": {"scope": "must be global or user"}})
    if scope == "user" and not user_id:
        raise ValidationError("a user kill switch needs user_id", code="validation_error",
                              details={"fields": {"user_id": "is required for scope user"}})
    if scope == "user" and not _UUID.match(user_id or ""):
        raise NotFound("no such user", code="user_not_found")
    return user_id if scope == "user" else None


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(row["id"]), "scope": row["scope"],
            "user_id": str(row["target_user_id"]) if row["target_user_id"] else None,
            "active": row["active"], "reason": row["reason"],
            "set_by": str(row["set_by"]) if row["set_by"] else None,
            "created_at": row["created_at"].isoformat(),
            "lifted_at": row["lifted_at"].isoformat() if row["lifted_at"] else None}


def _active(conn: psycopg.Connection, target: str | None) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM kill_switches WHERE active AND target_user_id IS NOT DISTINCT FROM %s",
                        (target,)).fetchone()


def check_not_halted(pool: ConnectionPool, user_id: str) -> None:
    """Raise `risk.check_kill_switches`' error while a switch covers `user_id`: read again just
    before an order goes out over the network, since a switch engaged after the order was
    recorded finds it not yet at the broker (nothing there to cancel)."""
    with db.tenant(pool, user_id) as conn:
        switches = conn.execute("SELECT scope, reason FROM kill_switches WHERE active"
                                " AND (target_user_id IS NULL OR target_user_id = %s)", (user_id,)).fetchall()
    risk.check_kill_switches(switches)


def engage(desk: Desk, admin_id: str, *, scope: str, user_id: str | None = None,
           reason: str = "") -> dict[str, Any]:
    """Halt trading (idempotent: engaging an engaged switch keeps the first), then cancel
    the affected open orders at their brokers."""
    target = _target(scope, user_id)
    with db.service(desk.resources.pool) as conn:
        if target and not conn.execute("SELECT 1 FROM users WHERE id = %s", (target,)).fetchone():
            raise NotFound("no such user", code="user_not_found")
        row = _active(conn, target)
        if row is None:
            try:
                with conn.transaction():
                    row = conn.execute(
                        "INSERT INTO kill_switches (scope, target_user_id, reason, set_by)"
                        " VALUES (%s, %s, %s, %s) RETURNING *", (scope, target, reason[:500], admin_id)).fetchone()
                audit.record(conn, Event.ENGAGED, target, actor_id=admin_id,  # type: ignore[arg-type]
                             details={"scope": scope, "reason": reason[:500]})
            except psycopg.errors.UniqueViolation:
                row = _active(conn, target)  # a concurrent engage won; same effect
        open_orders = conn.execute(
            f"SELECT id, user_id FROM orders WHERE state IN {lifecycle.OPEN_STATES_SQL}"
            " AND (%s::uuid IS NULL OR user_id = %s::uuid) ORDER BY created_at", (target, target)).fetchall()
    cancelled, failed = 0, 0
    for order in open_orders:
        try:
            cancel_order(desk, str(order["user_id"]), str(order["id"]))
            cancelled += 1
        except AppError as e:  # unconfirmed or unreachable: reconciliation keeps at it
            failed += 1
            log.warning("kill switch could not cancel", extra={"order_id": str(order["id"]), "error": e.code})
    return {"kill_switch": _view(row), "cancel_requested": cancelled, "cancel_failed": failed}


def lift(desk: Desk, admin_id: str, *, scope: str, user_id: str | None = None) -> dict[str, Any]:
    target = _target(scope, user_id)
    with db.service(desk.resources.pool) as conn:
        row = conn.execute("UPDATE kill_switches SET active = false, lifted_at = now() WHERE active"
                           " AND target_user_id IS NOT DISTINCT FROM %s RETURNING *", (target,)).fetchone()
        if row is None:
            raise NotFound("no active kill switch there", code="kill_switch_not_active")
        audit.record(conn, Event.LIFTED, target, actor_id=admin_id,  # type: ignore[arg-type]
                     details={"scope": scope})
    return {"kill_switch": _view(row)}


def active(desk: Desk) -> dict[str, Any]:
    with db.service(desk.resources.pool) as conn:
        rows = conn.execute("SELECT * FROM kill_switches WHERE active ORDER BY created_at").fetchall()
    return {"items": [_view(r) for r in rows]}


def parse(body: dict[str, Any]) -> dict[str, Any]:
    from autostock.contract import require_fields
    data = require_fields(body, {"scope": str}, {"user_id": str, "reason": str})
    return {"scope": data["scope"], "user_id": data.get("user_id"), "reason": data.get("reason") or ""}
