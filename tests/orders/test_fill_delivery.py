"""`orders.fill` reaches the books only from our NATS connector: a forged delivery (X-Topic
set, no token or a wrong one) sent to the gateway is refused and changes nothing; the paper
broker's real fill, carried by the connector, is applied. No log line shows the token."""

from __future__ import annotations

import datetime as dt
import json
import logging

import requests

from autostock.brokers.paper import Matcher
from autostock.contract import INTERNAL_HEADER
from autostock.logs import JsonFormatter
from autostock.market.quotes import Tick
from autostock.runtime.connectors import HttpInvoker, NatsConnector
from tests.helpers import eventually, invoke
from tests.orders.conftest import books_reconcile, order_body
from tests.runtime.conftest import project_stack, running, served_gateway

PATH = "/api/v1/trading/orders"


def _resting_order(trader, listed, price: int) -> tuple[dict, dict, str]:
    symbol = listed(price=70_000)
    user = trader()
    reply = invoke("place-order", "POST", PATH, order_body(symbol, quantity=5, price=price), token=user["token"])
    assert reply.status == 201 and reply.json["status"] == "accepted", reply
    return user, reply.json, symbol


def _order(user: dict, order_id: str) -> dict:
    return invoke("orders", "GET", f"{PATH}/{order_id}", token=user["token"]).json


def test_a_forged_fill_is_refused_and_the_books_stay_as_they_were(trader, listed, resources):
    user, order, symbol = _resting_order(trader, listed, price=65_000)
    before = books_reconcile(resources, user["account_id"])
    # Their own order, filled at 1 won: what a user on the LAN would send if X-Topic sufficed.
    forged = json.dumps({"account_id": user["account_id"], "user_id": user["id"], "broker_order_id": "forged-1",
                         "client_order_id": order["client_order_id"], "fill_id": "forged-1", "symbol": symbol,
                         "side": "buy", "quantity": 5, "price": 1})
    token = resources.settings.internal_token.reveal()
    topic = {"X-Topic": "orders.fill", "X-Connector": "connector-sdk"}
    with served_gateway(project_stack("orders")) as url:
        for extra in ({}, {INTERNAL_HEADER: "guess"}, {INTERNAL_HEADER: token[:-1]}):
            r = requests.post(f"{url}/function/orders/", data=forged, headers={**topic, **extra}, timeout=10)
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_an_internal_call", (extra, r.text)
    after = _order(user, order["id"])
    assert (after["status"], after["filled_quantity"]) == ("accepted", 0)
    assert books_reconcile(resources, user["account_id"]) == before
    assert invoke("orders", "GET", "/api/v1/trading/positions", token=user["token"]).json["items"] == []


def test_the_paper_brokers_fill_through_our_nats_connector_is_applied(trader, listed, desk, resources, clock,
                                                                      caplog):
    caplog.set_level(logging.DEBUG)
    user, order, symbol = _resting_order(trader, listed, price=69_000)
    stack = project_stack("orders")  # its `topic: orders.fill` annotation is what the connector reads
    with served_gateway(stack) as url, \
            running(NatsConnector(stack, resources.settings, HttpInvoker(url, resources.settings.internal_token))):
        # The matcher fills 3 of 5 and publishes orders.fill on NATS, as the paper-matcher does.
        fills = Matcher(resources).on_tick(Tick(symbol, 69_000, 3, clock() + dt.timedelta(seconds=1), seq="c1"))
        assert len(fills) == 1
        got = eventually(lambda: (o := _order(user, order["id"]))["filled_quantity"] == 3 and o)
    assert got["status"] == "partially_filled"
    assert books_reconcile(resources, user["account_id"])["held"] == {symbol: 3}
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert any('"connector call"' in line and '"orders.fill"' in line for line in lines)
    assert not [line for line in lines if resources.settings.internal_token.reveal() in line]
