"""After any sequence of orders, fills and cancels, the books reconcile exactly: the cash
ledger sums to the balance, positions equal the fills, and both agree with the broker's own
books (the paper broker keeps its own cash and holdings)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autostock import db
from autostock.brokers.paper import Matcher
from autostock.market.quotes import Tick
from autostock.orders import reconcile
from tests.helpers import invoke
from tests.orders.conftest import books_reconcile, order_body

PATH = "/api/v1/trading/orders"
BASE = 10_000

operation = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), st.integers(1, 20), st.integers(-3, 3)),
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), st.integers(1, 20), st.just(0)),
    st.tuples(st.just("cancel"), st.just(""), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("tick"), st.just(""), st.integers(1, 30), st.integers(-3, 3)),
    st.tuples(st.just("sync"), st.just(""), st.just(0), st.just(0)),
)


def _sync(desk, resources, account_id):
    with db.service(resources.pool) as conn:
        rows = conn.execute(f"SELECT {reconcile.CANDIDATE_COLUMNS} FROM orders WHERE account_id = %s"
                            " AND state IN ('accepted', 'partially_filled', 'pending_cancel', 'unknown')",
                            (account_id,)).fetchall()
    for row in rows:
        reconcile.reconcile_order(desk, row)


def _paper_books(resources, account_id):
    with db.service(resources.pool) as conn:
        cash = conn.execute("SELECT cash FROM paper_accounts WHERE account_id = %s", (account_id,)).fetchone()
        held = conn.execute("SELECT symbol, quantity FROM paper_holdings WHERE account_id = %s AND quantity > 0",
                            (account_id,)).fetchall()
    return int(cash["cash"]), {r["symbol"]: int(r["quantity"]) for r in held}


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(operation, min_size=3, max_size=25))
def test_random_orders_fills_and_cancels_reconcile(ops, trader, listed, desk, resources, clock):
    symbol = listed(price=BASE)
    user = trader(cash=3_000_000)
    placed: list[str] = []
    step = 0
    for kind, side, amount, offset in ops:
        step += 1
        if kind in ("limit", "market"):
            body = order_body(symbol, side=side, quantity=amount, order_type=kind,
                              price=BASE + 10 * offset if kind == "limit" else None)
            reply = invoke("place-order", "POST", PATH, body, token=user["token"])
            assert reply.status in (201, 422), reply
            if reply.status == 201:
                placed.append(reply.json["id"])
            else:
                assert reply.error_code in ("insufficient_buying_power", "insufficient_holdings"), reply
        elif kind == "cancel" and placed:
            reply = invoke("orders", "POST", f"{PATH}/{placed[amount % len(placed)]}/cancel", token=user["token"])
            assert reply.status in (200, 409), reply
        elif kind == "tick":
            price = BASE + 10 * offset
            listed(price=price, code=symbol, prev_close=BASE)
            at = clock() + dt.timedelta(seconds=step)
            Matcher(resources).on_tick(Tick(symbol, price, amount, at, seq=f"{user['id']}-{step}"))
        elif kind == "sync":
            _sync(desk, resources, user["account_id"])
    _sync(desk, resources, user["account_id"])
    _sync(desk, resources, user["account_id"])  # twice: applying the same fills again changes nothing
    ours = books_reconcile(resources, user["account_id"])
    if ours["cash"] is None:
        return
    paper_cash, paper_held = _paper_books(resources, user["account_id"])
    assert ours["cash"] == paper_cash
    assert {s: q for s, q in ours["held"].items() if q} == paper_held
