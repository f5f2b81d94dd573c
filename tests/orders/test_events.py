"""Every order transition is stored in order_events and published on NATS orders.<event>."""

from __future__ import annotations

import json

import psycopg
import pytest

from autostock import db
from tests.helpers import eventually, invoke
from tests.orders.conftest import order_body

PATH = "/api/v1/trading/orders"


@pytest.fixture
def heard(resources, settings):
    messages: list[tuple[str, dict]] = []

    async def on_message(msg) -> None:
        messages.append((msg.subject.removeprefix(settings.nats_prefix), json.loads(msg.data)))

    async def subscribe(client):
        sub = await client.subscribe(settings.subject("orders.>"), cb=on_message)
        await client.flush()
        return sub

    subscription = resources.events.call(subscribe)
    yield messages
    resources.events.call(lambda client: subscription.unsubscribe())


def test_transitions_are_stored_and_published(trader, listed, desk, heard, resources):
    symbol = listed(price=70_000)
    user = trader()
    order = invoke("place-order", "POST", PATH, order_body(symbol, price=None, order_type="market"),
                   token=user["token"]).json
    wanted = ["orders.created", "orders.accepted", "orders.filled"]
    mine = lambda: [s for s, body in heard if body.get("order", {}).get("id") == order["id"]]  # noqa: E731
    eventually(lambda: mine() == wanted, timeout=10)
    filled = next(body for s, body in heard if s == "orders.filled" and body["order"]["id"] == order["id"])
    assert filled["user_id"] == user["id"] and filled["order"]["status"] == "filled"
    # Each message carries the order as its event left it, though one commit made all three.
    states = {s: body["order"]["status"] for s, body in heard if body.get("order", {}).get("id") == order["id"]}
    assert states == {"orders.created": "pending_new", "orders.accepted": "accepted", "orders.filled": "filled"}
    # ... the fill included: the order is inserted filled, and the events before the fill see none of it.
    filled_then = {s: (body["order"]["filled_quantity"], body["order"]["reserved_cash"] > 0)
                   for s, body in heard if body.get("order", {}).get("id") == order["id"]}
    assert filled_then == {"orders.created": (0, True), "orders.accepted": (0, True), "orders.filled": (10, False)}
    with db.service(resources.pool) as conn:
        stored = [(r["event"], r["from_state"], r["to_state"]) for r in conn.execute(
            "SELECT event, from_state, to_state FROM order_events WHERE order_id = %s ORDER BY id",
            (order["id"],)).fetchall()]
    assert stored == [("created", None, "pending_new"), ("accepted", "pending_new", "accepted"),
                      ("filled", "accepted", "filled")]


def test_an_order_cannot_be_born_past_a_transition_the_state_machine_forbids(trader, resources):
    from autostock.brokers.base import OrderState
    from autostock.orders import lifecycle
    user = trader()
    columns = {name: None for name in lifecycle.NEW_ORDER_COLUMNS}
    with pytest.raises(ValueError, match="cannot go from filled to accepted"):
        with db.tenant(resources.pool, user["id"]) as conn:
            lifecycle.create(conn, ((OrderState.FILLED, {}), (OrderState.ACCEPTED, {})), **columns)
    with pytest.raises(ValueError, match="sets exactly"):
        with db.tenant(resources.pool, user["id"]) as conn:
            lifecycle.create(conn, user_id=user["id"])


def test_order_events_are_append_only_for_the_app(trader, listed, resources):
    symbol = listed()
    user = trader()
    invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"])
    for statement in ("UPDATE order_events SET event = 'x'", "DELETE FROM order_events",
                      "UPDATE fills SET quantity = 0", "DELETE FROM cash_ledger"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with db.tenant(resources.pool, user["id"]) as conn:
                conn.execute(statement)
