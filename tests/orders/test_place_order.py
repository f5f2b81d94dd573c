"""place-order through its handler: the seed's own test, validation, sessions, ownership."""

from __future__ import annotations

import datetime as dt
import uuid

from autostock import db, timetable
from autostock.brokers.paper import Matcher
from autostock.market.calendar import SEOUL
from autostock.market.quotes import StoredQuote, Tick, write_quote
from tests.helpers import invoke
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"


def test_seed_order_005930_limit_70000_is_201_pending_or_accepted(trader, listed, resources):
    symbol = listed(price=71_000, code="005930")
    user = trader()
    reply = invoke("place-order", "POST", PATH,
                   {"symbol": symbol, "side": "buy", "quantity": 10, "price": 70_000, "order_type": "limit"},
                   token=user["token"])
    assert reply.status == 201, reply
    order = reply.json
    assert order["status"] in ("pending_new", "accepted")
    assert order["symbol"] == "005930" and order["quantity"] == 10 and order["price"] == 70_000
    assert order["account_id"] == user["account_id"]
    # The resting buy holds back its value plus commission.
    assert order["reserved_cash"] == 700_000 + 700_000 * 140_527 // 1_000_000_000
    books_reconcile(resources, user["account_id"])


def test_marketable_buy_fills_into_position_and_cash(trader, listed, resources):
    symbol = listed(price=70_000)
    user = trader(cash=1_000_000)
    reply = invoke("place-order", "POST", PATH, order_body(symbol, price=None, order_type="market"),
                   token=user["token"])
    assert reply.status == 201, reply
    assert reply.json["status"] == "filled"
    price = reply.json["average_fill_price"]
    figures = books_reconcile(resources, user["account_id"])
    commission = 10 * price * 140_527 // 1_000_000_000
    assert figures["cash"] == 1_000_000 - 10 * price - commission
    assert figures["held"][symbol] == 10


def test_order_without_account_goes_to_the_default_paper_account(trader, listed):
    symbol = listed()
    user = trader()
    reply = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"])
    assert reply.status == 201 and reply.json["account_id"] == user["account_id"]


def test_bad_input_is_400_and_records_nothing(trader, listed, resources):
    symbol = listed(price=70_000)
    user = trader()
    cases = [
        ({"symbol": symbol, "quantity": 10}, "validation_error"),                 # no side
        (order_body(symbol, quantity=0), "invalid_quantity"),
        (order_body(symbol, quantity=1.5), "validation_error"),
        (order_body(symbol, quantity=True), "validation_error"),
        (order_body(symbol, price=70_050), "invalid_tick"),
        (order_body("ZZZZZZ"), "unknown_symbol"),
        (order_body("12"), "invalid_symbol"),
        (order_body(symbol, side="short"), "validation_error"),
        (order_body(symbol, time_in_force="gtc"), "validation_error"),
        (order_body(symbol, order_type="market"), "invalid_price"),                # market with a price
        ({**order_body(symbol), "leverage": 10}, "validation_error"),
    ]
    for body, code in cases:
        reply = invoke("place-order", "POST", PATH, body, token=user["token"])
        assert reply.status == 400, (body, reply)
        assert reply.error_code == code, (body, reply)
    reply = invoke("place-order", "POST", PATH, b"{not json", token=user["token"])
    assert reply.status == 400 and reply.error_code == "invalid_json"
    with db.service(resources.pool) as conn:
        n = conn.execute("SELECT count(*) AS n FROM orders WHERE user_id = %s", (user["id"],)).fetchone()["n"]
    assert n == 0


def test_price_outside_daily_limits_is_rejected(trader, listed):
    symbol = listed(price=10_000, prev_close=10_000)
    user = trader()
    reply = invoke("place-order", "POST", PATH, order_body(symbol, price=13_050), token=user["token"])
    assert reply.status == 422 and reply.error_code == "price_outside_limits"
    assert reply.json["error"]["details"]["upper"] == 13_000


def test_closed_market_is_a_clear_error_at_any_hour(trader, listed, clock):
    symbol = listed()
    user = trader()
    clock.at = dt.datetime(2025, 6, 16, 20, 0, tzinfo=SEOUL)
    reply = invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"])
    assert reply.status == 422 and reply.error_code == "market_closed"
    clock.at = dt.datetime(2025, 6, 14, 10, 0, tzinfo=SEOUL)   # a Saturday
    assert invoke("place-order", "POST", PATH, order_body(symbol), token=user["token"]).error_code == "market_closed"


def test_another_users_account_is_not_found(trader, listed):
    symbol = listed()
    alice, bob = trader(), trader()
    reply = invoke("place-order", "POST", PATH, order_body(symbol, account_id=alice["account_id"]),
                   token=bob["token"])
    assert reply.status == 404 and reply.error_code == "account_not_found"


def test_auth_and_scope_are_required(trader, listed, user_factory):
    symbol = listed()
    assert invoke("place-order", "POST", PATH, order_body(symbol)).status == 401
    reader = user_factory(scopes=("read",))
    assert invoke("place-order", "POST", PATH, order_body(symbol), token=reader["token"]).status == 403


def test_product_not_allowed_and_disabled_account(trader, listed, resources):
    from autostock import accounts
    etf = listed(price=10_000, code="Q" + "E7F01")
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE symbols SET name_ko = 'KODEX 200' WHERE code = %s", (etf,))
    user = trader()
    reply = invoke("place-order", "POST", PATH, order_body(etf, price=10_000), token=user["token"])
    assert reply.status == 403 and reply.error_code == "product_not_allowed"
    stock = listed()
    accounts.disable_account(resources, user["id"], user["account_id"])
    reply = invoke("place-order", "POST", PATH, order_body(stock, account_id=user["account_id"]),
                   token=user["token"])
    assert reply.status == 403 and reply.error_code == "account_disabled"


def test_an_etf_sale_pays_no_sell_tax_in_our_books_as_at_the_broker(trader, listed, resources, clock):
    """KRX funds pay no sell tax: our fill, cash and realized P&L agree with the paper broker's,
    and a later fill (the matcher's) knows the order's product from the order row."""
    etf = listed(price=10_000, code="Q" + uuid.uuid4().hex[:5].upper())
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE symbols SET name_ko = 'KODEX 200' WHERE code = %s", (etf,))
    write_quote(resources.redis, resources.settings, StoredQuote(
        code=etf, price=10_000, bid=0, ask=0, volume=1_000, prev_close=10_000, at=clock(), market="KOSPI",
        product="etf"))
    user = trader(allowed_products=["stock", "etf"])
    bought = invoke("place-order", "POST", PATH, order_body(etf, quantity=500, price=None, order_type="market"),
                    token=user["token"]).json
    assert bought["status"] == "filled"
    resting = invoke("place-order", "POST", PATH, order_body(etf, side="sell", quantity=500, price=10_100),
                     token=user["token"]).json
    assert resting["status"] == "accepted"
    assert Matcher(resources).on_tick(Tick(etf, 10_100, 500, clock() + dt.timedelta(seconds=1), seq="etf-1"))
    timetable.run_due(resources, only="orders.reconcile")  # the fill reaches our books from the order row
    got = invoke("orders", "GET", f"{PATH}/{resting['id']}", token=user["token"]).json
    assert got["status"] == "filled"
    with db.service(resources.pool) as conn:
        taxes = [r["tax"] for r in conn.execute("SELECT tax FROM fills WHERE account_id = %s ORDER BY id",
                                                (user["account_id"],)).fetchall()]
        ours = conn.execute("SELECT cash FROM account_books WHERE account_id = %s", (user["account_id"],)).fetchone()
        paper = conn.execute("SELECT cash FROM paper_accounts WHERE account_id = %s",
                             (user["account_id"],)).fetchone()
    assert taxes == [0, 0]
    assert ours["cash"] == paper["cash"]
    books_reconcile(resources, user["account_id"])
    assert (bought["product"], got["product"]) == ("etf", "etf")
