"""What the database itself guarantees about the books, whichever role writes them."""

from __future__ import annotations

import psycopg
import pytest

from autostock import db
from tests.helpers import invoke
from tests.orders.conftest import order_body

PATH = "/api/v1/trading/orders"


def test_no_books_row_can_file_under_another_users_account(trader, listed, resources):
    symbol = listed(price=70_000)
    alice, bob = trader(), trader()
    for user in (alice, bob):   # opens each account's books
        assert invoke("place-order", "POST", PATH, order_body(symbol, price=None, order_type="market"),
                      token=user["token"]).status == 201
    forged = {
        "orders": "INSERT INTO orders (user_id, account_id, client_order_id, symbol, market, side, order_type,"
                  " time_in_force, quantity, price, reserve_price, broker, trading_day)"
                  " VALUES (%(u)s, %(a)s, 'forged', %(s)s, 'KOSPI', 'buy', 'limit', 'day', 1, 70000, 70000,"
                  " 'paper', current_date)",
        "positions": "INSERT INTO positions (user_id, account_id, symbol, market, quantity, cost_basis)"
                     " VALUES (%(u)s, %(a)s, 'FORGED', 'KOSPI', 1, 70000)",
        "cash_ledger": "INSERT INTO cash_ledger (user_id, account_id, kind, amount, balance_after)"
                       " VALUES (%(u)s, %(a)s, 'deposit', 1, 1)",
    }
    for table, statement in forged.items():
        # The service role is not bound by row-level security: the key is what refuses.
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="account_owner"):
            with db.service(resources.pool) as conn:
                conn.execute(statement, {"u": alice["id"], "a": bob["account_id"], "s": symbol})
    # The same rows under the account's own user are what the books are made of.
    with db.service(resources.pool) as conn:
        conn.execute(forged["positions"], {"u": bob["id"], "a": bob["account_id"], "s": symbol})
