"""Idempotency keys: one order at the broker however many times a request is sent."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from autostock import db
from tests.helpers import invoke
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"


def _broker_orders(resources, account_id: str) -> int:
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT count(*) AS n FROM paper_orders WHERE account_id = %s",
                            (account_id,)).fetchone()["n"]


def test_fifty_concurrent_requests_with_one_key_make_one_order(trader, listed, resources):
    symbol = listed(price=70_000)
    user = trader()
    body = order_body(symbol, quantity=3, price=69_000)
    headers = {"Idempotency-Key": "c0ffee00-0000-4000-8000-000000000050"}

    def send(_: int):
        return invoke("place-order", "POST", PATH, body, token=user["token"], headers=headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(send, range(50)))
    assert {r.status for r in replies} == {201}, [r for r in replies if r.status != 201][:3]
    answers = {json.dumps(r.json, sort_keys=True) for r in replies}
    assert len(answers) == 1, "every caller gets the same answer"
    assert _broker_orders(resources, user["account_id"]) == 1
    with db.service(resources.pool) as conn:
        assert conn.execute("SELECT count(*) AS n FROM orders WHERE user_id = %s",
                            (user["id"],)).fetchone()["n"] == 1
    books_reconcile(resources, user["account_id"])


def test_same_key_different_body_is_409(trader, listed):
    symbol = listed()
    user = trader()
    headers = {"Idempotency-Key": "key-reused-1"}
    first = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"], headers=headers)
    assert first.status == 201
    again = invoke("place-order", "POST", PATH, order_body(symbol, quantity=11), token=user["token"],
                   headers=headers)
    assert again.status == 409 and again.error_code == "idempotency_key_reused"
    same = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"], headers=headers)
    assert same.status == 201 and same.json == first.json


def test_client_order_id_is_the_key_when_no_header(trader, listed, resources):
    symbol = listed()
    user = trader()
    body = order_body(symbol, client_order_id="my-order-0001")
    first = invoke("place-order", "POST", PATH, body, token=user["token"])
    second = invoke("place-order", "POST", PATH, body, token=user["token"])
    assert first.status == second.status == 201 and first.json == second.json
    assert first.json["client_order_id"] == "my-order-0001"
    assert _broker_orders(resources, user["account_id"]) == 1


def test_a_client_order_id_used_under_another_key_is_409_and_places_nothing_more(trader, listed, resources):
    symbol = listed()
    user = trader()
    body = order_body(symbol, client_order_id="my-order-0002")
    first = invoke("place-order", "POST", PATH, body, token=user["token"], headers={"Idempotency-Key": "k-one"})
    assert first.status == 201
    second = invoke("place-order", "POST", PATH, body, token=user["token"], headers={"Idempotency-Key": "k-two"})
    assert second.status == 409 and second.error_code == "duplicate_client_order_id", second
    assert _broker_orders(resources, user["account_id"]) == 1
    books_reconcile(resources, user["account_id"])


def test_keys_belong_to_their_user(trader, listed, resources):
    symbol = listed()
    alice, bob = trader(), trader()
    headers = {"Idempotency-Key": "shared-key"}
    a = invoke("place-order", "POST", PATH, order_body(symbol), token=alice["token"], headers=headers)
    b = invoke("place-order", "POST", PATH, order_body(symbol), token=bob["token"], headers=headers)
    assert a.status == b.status == 201 and a.json["id"] != b.json["id"]


def test_a_request_that_failed_risk_saves_no_key(trader, listed):
    symbol = listed(price=70_000)
    user = trader(cash=100_000)
    headers = {"Idempotency-Key": "retry-after-deposit"}
    first = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"], headers=headers)
    assert first.status == 422 and first.error_code == "insufficient_buying_power"
    again = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"], headers=headers)
    assert again.error_code == "insufficient_buying_power", "re-evaluated, not replayed"
