"""The order state machine: which transitions exist, and the one function that makes them.

    pending_new → accepted → partially_filled → filled
    pending_new / accepted / partially_filled → pending_cancel → cancelled
    pending_new → rejected;  open → expired (end of day);  pending_new → unknown (broker timeout)
    unknown → whatever the broker's records say

Every change writes an `order_events` row in the caller's transaction, in the same statement
as the order row (a data-modifying CTE: one round trip, not two), and returns the event so
the caller publishes it on NATS `orders.<event>` after the commit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from autostock import db
from autostock.brokers.base import OrderState
from autostock.db import wide
from autostock.errors import Conflict
from autostock.notify import notices

S = OrderState
OPEN_STATES = tuple(s.value for s in S if s.is_open)
FINAL_STATES = tuple(s.value for s in S if not s.is_open)
# OPEN_STATES written into SQL: the hot statements pass no array, and use the open-orders index.
OPEN_STATES_SQL = db.constant_list(OPEN_STATES)

ALLOWED: dict[S, frozenset[S]] = {
    S.PENDING_NEW: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.UNKNOWN,
                              S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED,
                           S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED,
                                   S.EXPIRED}),
    S.PENDING_CANCEL: frozenset({S.CANCELLED, S.PARTIALLY_FILLED, S.FILLED, S.ACCEPTED, S.EXPIRED,
                                 S.PENDING_CANCEL}),
    S.UNKNOWN: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED,
                          S.EXPIRED, S.PENDING_CANCEL}),
}

# Columns a transition may set besides the state.
_COLUMNS = frozenset({"filled_quantity", "cancelled_quantity", "filled_value", "average_fill_price",
                      "fees", "reserved_cash", "reserved_quantity", "broker_order_id", "reject_code",
                      "reject_reason", "quantity", "price", "reserve_price", "accepted_at",
                      "closed_at"})

ORDER_COLUMNS = ("id, user_id, account_id, client_order_id, symbol, market, product, side, order_type,"
                 " time_in_force, quantity, price, reserve_price, state, filled_quantity,"
                 " cancelled_quantity, filled_value, average_fill_price, fees, reserved_cash,"
                 " reserved_quantity, broker, broker_order_id, reject_code, reject_reason,"
                 " trading_day, created_at, updated_at, accepted_at, closed_at")


@dataclass(frozen=True)
class OrderEvent:
    """A committed-to-be transition, published after the transaction commits."""

    event: str
    order: dict[str, Any]


def can_move(current: str, target: str) -> bool:
    if current == target:
        return current in (S.PARTIALLY_FILLED.value, S.PENDING_CANCEL.value)
    return S(target) in ALLOWED.get(S(current), frozenset())


class _Now:
    """Stands for the database's now() in a column change (one clock for every timestamp)."""

    def __repr__(self) -> str:
        return "NOW"


NOW = _Now()


# The event row of a change, written by the statement that changes the order (`changed`).
_EVENT = sql.SQL(", event AS (INSERT INTO order_events (user_id, order_id, event, from_state, to_state, data)"
                 " SELECT user_id, id, %s, %s, %s, %s FROM changed)")


@functools.lru_cache(maxsize=256)
def _update_sql(columns: tuple[tuple[str, bool], ...], with_state: bool, with_event: bool) -> str:
    """The UPDATE of `columns` ((name, set to now()) each), composed once per shape: the same
    few shapes recur for every order, and psycopg.sql builds a tree of objects per call."""
    parts = [sql.SQL("state = %s")] if with_state else []
    parts += [sql.SQL("{} = now()" if now else "{} = %s").format(sql.Identifier(name)) for name, now in columns]
    parts.append(sql.SQL("updated_at = now()"))
    return sql.SQL("WITH changed AS (UPDATE orders SET {} WHERE id = %s RETURNING {}){} SELECT * FROM changed").format(
        sql.SQL(", ").join(parts), sql.SQL(ORDER_COLUMNS), _EVENT if with_event else sql.SQL("")).as_string()


def _write(conn: psycopg.Connection, order_id: Any, state: str | None, changes: dict[str, Any],
           event: tuple[str, str, str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """UPDATE the order; with `event` (name, from, to, data), also INSERT its order_events row."""
    unknown = set(changes) - _COLUMNS
    if unknown:
        raise ValueError(f"not order columns: {sorted(unknown)}")
    query = _update_sql(tuple((name, value is NOW) for name, value in changes.items()), state is not None,
                        event is not None)
    values = [*([state] if state is not None else []), *(v for v in changes.values() if v is not NOW), order_id]
    if event:
        name, from_state, to_state, data = event
        values += [name, from_state, to_state, Jsonb(data)]
    return conn.execute(query, values).fetchone()


def update(conn: psycopg.Connection, order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Change columns of an order without a state change (reservation, fill totals)."""
    if not changes:
        return order
    return _write(conn, order["id"], None, changes)


def transition(conn: psycopg.Connection, order: dict[str, Any], target: OrderState | str,
               *, event: str | None = None, data: dict[str, Any] | None = None,
               **changes: Any) -> tuple[dict[str, Any], OrderEvent]:
    """Move `order` (a row locked by the caller) to `target`, recording the event."""
    target = S(target)
    current = order["state"]
    if not can_move(current, target.value):
        raise Conflict(f"order is {current}; it cannot become {target.value}",
                       code="invalid_order_transition",
                       details={"order_id": str(order["id"]), "state": current})
    if not target.is_open:
        changes.setdefault("closed_at", NOW)
    name = event or target.value
    row = _write(conn, order["id"], target.value, changes, (name, current, target.value, data or {}))
    if target == S.REJECTED:
        notices.rejected(conn, row)
    return row, OrderEvent(name, row)


def working_state(order: dict[str, Any]) -> OrderState:
    """The state of an order the broker works: partially filled once it has fills."""
    return S.PARTIALLY_FILLED if int(order["filled_quantity"]) else S.ACCEPTED


def close_rest(conn: psycopg.Connection, order: dict[str, Any], target: OrderState, *, event: str,
               **changes: Any) -> tuple[dict[str, Any], OrderEvent]:
    """End what is left of `order` (cancelled or expired): the unfilled shares count as
    cancelled and the order holds back no cash or shares any more."""
    left = int(order["quantity"]) - int(order["filled_quantity"])
    return transition(conn, order, target, event=event, cancelled_quantity=left, reserved_cash=0,
                      reserved_quantity=0, **changes)


# What place-order sets on a new order; the rest (zero fills, timestamps) are defaults.
NEW_ORDER_COLUMNS = ("user_id", "account_id", "client_order_id", "symbol", "market", "product", "side",
                     "order_type", "time_in_force", "quantity", "price", "reserve_price", "reserved_cash",
                     "reserved_quantity", "broker", "trading_day")
# What a broker's answer sets when the order is placed in the transaction that creates it.
_BORN_COLUMNS = ("state", "broker_order_id", "reject_code", "reject_reason")


@functools.lru_cache(maxsize=16)
def _create_sql(columns: tuple[str, ...], then: str) -> str:
    """The order and its events in one statement: `created`, then each hop the broker's answer
    made; `then` adds CTEs that write what the order brought with it (they see `created`)."""
    return (
        f"WITH created AS (INSERT INTO orders ({', '.join(columns)}, accepted_at, closed_at)"
        f" VALUES ({', '.join(f'%(c_{name})s' for name in columns)},"
        "   CASE WHEN %(c_accepted)s THEN now() END, CASE WHEN %(c_closed)s THEN now() END)"
        f"   RETURNING {ORDER_COLUMNS}),"
        " event AS (INSERT INTO order_events (user_id, order_id, event, from_state, to_state, data)"
        "   SELECT c.user_id, c.id, e.hop->>'event', e.hop->>'from', e.hop->>'to', e.hop->'data'"
        "   FROM created c, jsonb_array_elements(%(c_events)s::jsonb) WITH ORDINALITY AS e(hop, n) ORDER BY e.n)"
        f"{then} SELECT * FROM created")


def create(conn: psycopg.Connection, hops: tuple[tuple[OrderState, dict[str, Any]], ...] = (),
           *, broker_order_id: str | None = None, reject_code: str | None = None,
           reject_reason: str | None = None, filled: dict[str, Any] | None = None, then: str = "",
           then_params: dict[str, Any] | None = None,
           **columns: Any) -> tuple[dict[str, Any], list[OrderEvent]]:
    """Insert a new order (every one of NEW_ORDER_COLUMNS) with its `created` event.

    `hops` ((target state, event data) each) move it on in the same statement, for an order
    placed in the transaction that creates it: it is born in the broker's answer (accepted,
    rejected, or filled), with every event the step-by-step path would have written. Each hop
    must be a transition `ALLOWED` from the one before. `filled` (the fill totals and the
    reservation left, as `book.after_fill` makes them) is what the last hop's fill made of it;
    `then` (CTEs, with their `then_params`) writes that fill in the same statement."""
    if set(columns) != set(NEW_ORDER_COLUMNS):
        raise ValueError(f"a new order sets exactly {NEW_ORDER_COLUMNS}")
    state = S.PENDING_NEW
    events = [{"event": "created", "from": None, "to": state.value, "data": {}}]
    for target, data in hops:
        if not can_move(state.value, target.value):
            raise ValueError(f"a new order cannot go from {state.value} to {target.value}")
        events.append({"event": target.value, "from": state.value, "to": target.value, "data": data})
        state = target
    values = {**columns, "state": state.value, "broker_order_id": broker_order_id, "reject_code": reject_code,
              "reject_reason": reject_reason, **(filled or {})}
    params = {f"c_{name}": value for name, value in values.items()}
    params.update(c_accepted=any(target == S.ACCEPTED for target, _ in hops), c_closed=not state.is_open,
                  c_events=Jsonb(events), **(then_params or {}))
    # A filled order's statement has more parameters than psycopg caches the parsing of.
    row = wide.execute(conn, _create_sql(tuple(values), then), params).fetchone()
    if state == S.REJECTED:
        notices.rejected(conn, row)
    # Each event carries the order as that event left it, as the step-by-step path publishes:
    # the ones before a fill see none of it.
    before = {**row, **{name: columns.get(name, 0) for name in filled}, "closed_at": None} if filled else row
    return row, [OrderEvent(e["event"], row if e is events[-1] else {**before, "state": e["to"]}) for e in events]


def note(conn: psycopg.Connection, order: dict[str, Any], event: str, data: dict[str, Any],
         **changes: Any) -> tuple[dict[str, Any], list[OrderEvent]]:
    """Record an event that changes columns but not the state (a late fill on a closed order)."""
    row = _write(conn, order["id"], None, changes, (event, order["state"], order["state"], data))
    return row, [OrderEvent(event, row)]
