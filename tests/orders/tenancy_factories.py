"""Orders' entries in the tenancy registry (see tests/tenancy.py)."""

import datetime as dt
import uuid

from autostock import accounts, db
from tests.tenancy import factory


def _order(resources, owner):
    account = accounts.default_account(resources, owner["id"])
    with db.tenant(resources.pool, owner["id"]) as conn:
        conn.execute("INSERT INTO account_books (account_id, user_id, cash) VALUES (%s, %s, 10000000)"
                     " ON CONFLICT DO NOTHING", (account["id"], owner["id"]))
        row = conn.execute(
            "INSERT INTO orders (user_id, account_id, client_order_id, symbol, side, order_type, quantity, price,"
            " state, trading_day) VALUES (%s, %s, %s, '005930', 'buy', 'limit', 10, 70000, 'accepted', %s)"
            " RETURNING id", (owner["id"], account["id"], uuid.uuid4().hex, dt.date.today())).fetchone()
    return {"order_id": str(row["id"])}


factory("/api/v1/trading/orders/{order_id}", bodies={"patch": {"price": 70100}})(_order)
factory("/api/v1/trading/orders/{order_id}/cancel")(_order)
