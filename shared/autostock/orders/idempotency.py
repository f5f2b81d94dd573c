"""Idempotency keys for money-moving POSTs, Stripe-style (style.md §7, convention 6).

The first request with a key claims it by inserting `(user_id, key)` in the same transaction
that records the order, before anything else; a concurrent second request blocks on the
unique index until the first commits, then finds the key taken and waits for the stored
answer (a retry of a finished request finds it taken at once). The same key with a different
body is `Conflict(idempotency_key_reused)`. A request that fails before anything is recorded
(validation, risk) rolls its claim back and saves nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from autostock import db
from autostock.errors import Conflict

# How long a replay waits for the first request's answer before saying "in flight".
WAIT_SECONDS = 30.0


def request_hash(body: dict[str, Any]) -> str:
    """A stable fingerprint of a request body (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(conn: psycopg.Connection, user_id: str, key: str, fingerprint: str) -> bool:
    """Insert the key as in flight; False when another request holds or held it (this waits
    while a holder's transaction is open, then sees whether it committed)."""
    return conn.execute("INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES (%s, %s, %s)"
                        " ON CONFLICT (user_id, key) DO NOTHING RETURNING key",
                        (user_id, key, fingerprint)).fetchone() is not None


def attach_order(conn: psycopg.Connection, user_id: str, key: str, order_id: str) -> None:
    conn.execute("UPDATE idempotency_keys SET order_id = %s WHERE user_id = %s AND key = %s",
                 (order_id, user_id, key))


def complete(conn: psycopg.Connection, user_id: str, key: str, status: int,
             response: dict[str, Any], *, order_id: str | None = None) -> None:
    """Store the answer under the key (and, when not attached yet, the order it made)."""
    conn.execute("UPDATE idempotency_keys SET status = %s, response = %s, completed_at = now(),"
                 " order_id = coalesce(%s, order_id) WHERE user_id = %s AND key = %s",
                 (status, Jsonb(response), order_id, user_id, key))


def settle_for_order(conn: psycopg.Connection, user_id: str, order_id: str, response: dict[str, Any]) -> None:
    """Store `response` under a key still in flight for `order_id`: its request ended before it
    could (a crash, or a failure after the order was sent), and a retry must learn what became
    of the order instead of waiting forever on an answer nobody will write."""
    conn.execute("UPDATE idempotency_keys SET status = 201, response = %s, completed_at = now()"
                 " WHERE user_id = %s AND order_id = %s AND response IS NULL",
                 (Jsonb(response), user_id, order_id))


def replay(pool: ConnectionPool, user_id: str, key: str, fingerprint: str,
           *, wait: float = WAIT_SECONDS) -> tuple[int, dict[str, Any]]:
    """The first answer stored for `key`, waiting while the first request is in flight."""
    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        with db.tenant(pool, user_id) as conn:
            row = conn.execute("SELECT request_hash, status, response FROM idempotency_keys"
                               " WHERE user_id = %s AND key = %s", (user_id, key)).fetchone()
        if row is None:
            # The holder rolled back (it failed validation or risk): nothing was saved.
            raise Conflict("the first request with this Idempotency-Key failed; retry it",
                           code="idempotency_key_retry")
        if row["request_hash"] != fingerprint:
            raise Conflict("this Idempotency-Key was used with a different request body",
                           code="idempotency_key_reused")
        if row["response"] is not None:
            return int(row["status"]), row["response"]
        if time.monotonic() >= deadline:
            raise Conflict("a request with this Idempotency-Key is still in progress",
                           code="idempotency_key_in_flight")
        time.sleep(delay)  # polling a row another transaction is about to complete
        delay = min(delay * 2, 0.1)


def prune(pool: ConnectionPool, older_than_hours: int = 24) -> int:
    """Drop keys past their replay window (Stripe keeps them 24 h)."""
    with db.service(pool) as conn:
        cur = conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)"
                           " AND response IS NOT NULL", (older_than_hours,))
        return cur.rowcount
