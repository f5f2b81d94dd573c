import json
import threading
import time

import pytest

from autostock import db
from autostock.notify import signing
from tests.helpers import invoke
from tests.orders.conftest import clock, desk, listed, quote, trader  # noqa: F401 - shared fixtures


@pytest.fixture
def hook(trader, listed):
    t = trader()
    symbol = listed(70_000)
    r = invoke("alerts", "POST", "/api/v1/webhooks/hooks",
               {"account_id": t["account_id"], "max_quantity": 20, "max_notional": 2_000_000}, token=t["token"])
    assert r.status == 201, r
    return {**r.json, "trader": t, "symbol": symbol}


def signal(hook, payload, *, secret=None, ts=None):
    body = json.dumps(payload).encode()
    headers = signing.signed_headers(secret or hook["secret"], body, now=ts)
    return invoke("webhook-order", "POST", f"/api/v1/webhooks/orders/{hook['id']}", body, headers=headers)


def orders_of(resources, user_id):
    with db.tenant(resources.pool, user_id) as conn:
        return conn.execute("SELECT id, symbol, side, quantity, state FROM orders WHERE user_id = %s",
                            (user_id,)).fetchall()


def test_signed_signal_places_one_order(hook, resources):
    r = signal(hook, {"id": "tv-1", "symbol": hook["symbol"], "side": "buy", "quantity": 3,
                      "type": "limit", "price": 70_000})
    assert r.status == 201, r
    placed = orders_of(resources, hook["trader"]["id"])
    assert [(o["symbol"], o["side"], o["quantity"]) for o in placed] == [(hook["symbol"], "buy", 3)]
    calls = invoke("alerts", "GET", f"/api/v1/webhooks/hooks/{hook['id']}/calls", token=hook["trader"]["token"])
    assert calls.json["items"][0]["payload_id"] == "tv-1"


def test_token_mode_for_senders_that_cannot_sign(hook, resources):
    body = {"id": "tv-2", "symbol": hook["symbol"], "side": "buy", "quantity": 1, "type": "market",
            "token": hook["secret"], "timestamp": int(time.time())}
    r = invoke("webhook-order", "POST", f"/api/v1/webhooks/orders/{hook['id']}", body)
    assert r.status == 201, r
    assert len(orders_of(resources, hook["trader"]["id"])) == 1


@pytest.mark.parametrize("case", ["unsigned", "bad_signature", "expired", "wrong_token", "stale_token"])
def test_refused_signals_place_nothing(hook, resources, case):
    payload = {"id": f"x-{case}", "symbol": hook["symbol"], "side": "buy", "quantity": 1, "type": "market"}
    path = f"/api/v1/webhooks/orders/{hook['id']}"
    if case == "unsigned":
        r = invoke("webhook-order", "POST", path, payload)
    elif case == "bad_signature":
        r = signal(hook, payload, secret="whk_not-the-secret")
    elif case == "expired":
        r = signal(hook, payload, ts=time.time() - 3600)
    elif case == "wrong_token":
        r = invoke("webhook-order", "POST", path, {**payload, "token": "nope", "timestamp": int(time.time())})
    else:
        r = invoke("webhook-order", "POST", path, {**payload, "token": hook["secret"],
                                                   "timestamp": int(time.time()) - 3600})
    assert r.status == 401 and r.json["error"]["message"], r
    assert orders_of(resources, hook["trader"]["id"]) == []


def test_replayed_payload_id_is_refused_and_places_nothing_more(hook, resources):
    payload = {"id": "tv-dup", "symbol": hook["symbol"], "side": "buy", "quantity": 1, "type": "market"}
    assert signal(hook, payload).status == 201
    again = signal(hook, payload)
    assert again.status == 409 and again.error_code == "signal_replayed"
    assert len(orders_of(resources, hook["trader"]["id"])) == 1


def test_same_payload_id_racing_places_one_order(hook, resources):
    payload = {"id": "tv-race", "symbol": hook["symbol"], "side": "buy", "quantity": 1, "type": "market"}
    results = []
    threads = [threading.Thread(target=lambda: results.append(signal(hook, payload).status)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 7
    assert len(orders_of(resources, hook["trader"]["id"])) == 1


def test_hook_limits_and_bad_payloads(hook, resources):
    base = {"symbol": hook["symbol"], "side": "buy", "type": "limit", "price": 70_000}
    assert signal(hook, {**base, "id": "big", "quantity": 21}).error_code == "hook_limit"
    assert signal(hook, {**base, "id": "rich", "quantity": 20, "price": 200_000}).error_code == "hook_limit"
    assert signal(hook, {**base, "quantity": 1}).status == 400                     # no id
    assert signal(hook, {**base, "id": "both", "quantity": 1, "percent_of_equity": 5}).status == 400
    assert orders_of(resources, hook["trader"]["id"]) == []


def test_percent_of_equity_sizes_from_the_account(hook, resources):
    # 10,000,000 KRW paper account: 10 % at 70,000 KRW → 14 shares.
    r = signal(hook, {"id": "pct", "symbol": hook["symbol"], "side": "buy", "percent_of_equity": 10,
                      "type": "limit", "price": 70_000})
    assert r.status == 201, r
    assert orders_of(resources, hook["trader"]["id"])[0]["quantity"] == 14


def test_hooks_are_private(hook, user_factory):
    other = user_factory()
    assert invoke("alerts", "GET", "/api/v1/webhooks/hooks", token=other["token"]).json["items"] == []
    assert invoke("alerts", "DELETE", f"/api/v1/webhooks/hooks/{hook['id']}", token=other["token"]).status == 404
    r = invoke("alerts", "POST", "/api/v1/webhooks/hooks", {"account_id": hook["trader"]["account_id"]},
               token=other["token"])
    assert r.status == 404        # cannot bind a hook to someone else's account
