"""Trading analytics from fills and positions: allocation, turnover, win rate, holding time.

Holding time pairs each sell with the oldest shares still held (FIFO lots), weighted by shares.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from autostock import db
from autostock.orders.queries import _uuid
from autostock.portfolio.valuation import closing_prices, mark
from autostock.resources import Resources


def holding_seconds(fills: list[dict[str, Any]]) -> float | None:
    """Share-weighted mean seconds between buying and selling (FIFO); None without sells."""
    lots: dict[tuple[str, str], deque] = defaultdict(deque)
    total_seconds, total_shares = 0.0, 0
    for f in fills:
        key = (str(f["account_id"]), f["symbol"])
        if f["side"] == "buy":
            lots[key].append([int(f["quantity"]), f["filled_at"]])
            continue
        left = int(f["quantity"])
        while left and lots[key]:
            lot = lots[key][0]
            used = min(left, lot[0])
            total_seconds += used * (f["filled_at"] - lot[1]).total_seconds()
            total_shares += used
            lot[0] -= used
            left -= used
            if lot[0] == 0:
                lots[key].popleft()
    return total_seconds / total_shares if total_shares else None


def analytics(resources: Resources, user_id: str, account_id: str | None = None) -> dict[str, Any]:
    if account_id:
        _uuid(account_id, "account")
    scope = "user_id = %s AND (%s::uuid IS NULL OR account_id = %s::uuid)"
    args = (user_id, account_id, account_id)
    with db.tenant(resources.pool, user_id) as conn:
        fills = conn.execute(f"SELECT account_id, symbol, side, quantity, price, realized_pnl, filled_at"  # noqa: S608
                             f" FROM fills WHERE {scope} ORDER BY filled_at, id", args).fetchall()
        held = conn.execute(f"SELECT symbol, quantity, cost_basis FROM positions WHERE {scope}"  # noqa: S608
                            " AND quantity > 0", args).fetchall()
        equity = conn.execute(f"SELECT avg(e) AS avg FROM (SELECT sum(equity) AS e FROM equity_snapshots"  # noqa: S608
                              f" WHERE {scope} GROUP BY day) d", args).fetchone()
    prices = closing_prices(resources, sorted({h["symbol"] for h in held}))
    values = {h["symbol"]: mark(int(h["quantity"]), int(h["cost_basis"]), prices.get(h["symbol"])) for h in held}
    invested = sum(values.values())
    sells = [f for f in fills if f["side"] == "sell"]
    wins = [f for f in sells if int(f["realized_pnl"]) > 0]
    traded = sum(int(f["quantity"]) * int(f["price"]) for f in fills)
    average_equity = float(equity["avg"]) if equity and equity["avg"] else None
    return {
        "allocation": [{"symbol": s, "value": v, "weight": v / invested if invested else 0.0}
                       for s, v in sorted(values.items(), key=lambda kv: -kv[1])],
        "traded_value": traded,
        "turnover": traded / average_equity if average_equity else None,
        "trades": len(fills),
        "closed_trades": len(sells),
        "win_rate": len(wins) / len(sells) if sells else None,
        "realized_pnl": sum(int(f["realized_pnl"]) for f in fills),
        "average_holding_seconds": holding_seconds(fills),
    }
