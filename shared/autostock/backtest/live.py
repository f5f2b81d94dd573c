"""Live evaluation: the backtest's own strategy code on the bars up to now, orders via the order path.

market-clock calls the `strategies` task every minute during the session. For each active
deployment it takes the completed daily bars (the last one is yesterday's), asks the same
`Strategy` class for its targets, and trades like the engine does at this open: when the
target changed on the last bar (or the holding disagrees with it), it sizes the order with
the engine's rules and sends a marketable limit order `slippage_ticks` through the open.

Once per bar: the evaluation row (unique per deployment and bar date) is claimed before any
order, and each order carries an idempotency key made of the deployment id, the bar date and
the side, so a doubled or retried cron call never doubles an order.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from autostock import db, orders, timetable
from autostock.backtest.engine import target_weights
from autostock.backtest.fills import PPB, fill_prices
from autostock.backtest.sources import source_for
from autostock.backtest.strategies import lookup
from autostock.errors import AppError
from autostock.market import calendar
from autostock.market.quotes import read_quote
from autostock.orders import directory

log = logging.getLogger("autostock.live")

SLIPPAGE_TICKS = 1          # the paper broker's default for orders that take liquidity
LAST_ENTRY = dt.time(15, 20)  # the closing auction starts; evaluations wait for the next session


def due(now: dt.datetime) -> bool:
    local = now.astimezone(calendar.SEOUL)
    return calendar.is_open(local) and local.time() < LAST_ENTRY


def _claim(pool: Any, dep: dict[str, Any], bar_date: dt.date) -> int | None:
    with db.service(pool) as conn:
        row = conn.execute(
            "INSERT INTO strategy_evaluations (user_id, deployment_id, bar_date) VALUES (%s, %s, %s)"
            " ON CONFLICT (deployment_id, bar_date) DO NOTHING RETURNING id",
            (dep["user_id"], dep["id"], bar_date)).fetchone()
    return row["id"] if row else None


def _record(pool: Any, evaluation_id: int, *, target: int | None, placed: list[dict[str, Any]],
            error: dict[str, Any] | None) -> None:
    with db.service(pool) as conn:
        conn.execute("UPDATE strategy_evaluations SET target = %s, orders = %s, error = %s WHERE id = %s",
                     (target, Jsonb(placed), Jsonb(error) if error else None, evaluation_id))


def _held(pool: Any, dep: dict[str, Any]) -> int:
    with db.tenant(pool, dep["user_id"]) as conn:
        row = conn.execute("SELECT quantity FROM positions WHERE account_id = %s AND symbol = %s",
                           (dep["account_id"], dep["symbol"])).fetchone()
    return int(row["quantity"]) if row else 0


def plan(weight: int, previous: int, held: int, spendable: int, mark: int, buy_px: int,
         commission_ppb: int) -> tuple[str, int] | None:
    """(side, quantity) the engine would trade at this open, or None. Mirrors `fills`."""
    if weight == previous and (weight > 0) == (held > 0):
        return None
    if weight == 0:
        return ("sell", held) if held else None
    want = (spendable + held * mark) * weight // PPB // buy_px
    if want < held:
        return "sell", held - want
    q = min(want - held, spendable * PPB // (buy_px * (PPB + commission_ppb)))
    value = (q + 1) * buy_px
    if q + 1 <= want - held and value + value * commission_ppb // PPB <= spendable:
        q += 1  # truncated commission leaves room for one more share (as the engine finds)
    return ("buy", q) if q > 0 else None


def evaluate(resources: Any, desk: Any, dep: dict[str, Any], now: dt.datetime, source: Any) -> dict[str, Any]:
    today = now.astimezone(calendar.SEOUL).date()
    bars = source.daily(dep["symbol"], None, today - dt.timedelta(days=1))
    bar_date = bars.dates[-1].astype(object)
    evaluation = _claim(resources.pool, dep, bar_date)
    if evaluation is None:
        return {"status": "already_evaluated"}
    target = None
    placed: list[dict[str, Any]] = []
    try:
        strategy = lookup(dep["strategy"])(**dep["params"])
        targets = target_weights(strategy, bars, (len(bars),))
        target = int(targets[-1])
        quote = read_quote(resources.redis, resources.settings, dep["symbol"])
        if quote is None:
            raise AppError(f"no quote for {dep['symbol']} yet", code="no_quote")
        buy, sell = fill_prices(np.array([quote.price]), np.array([today], dtype="datetime64[D]"),
                                bars.market, SLIPPAGE_TICKS)
        held = _held(resources.pool, dep)
        with db.tenant(resources.pool, dep["user_id"]) as conn:
            terms = directory.account_terms(conn, dep["user_id"], str(dep["account_id"]))
        broker = desk.broker_for(terms)
        broker.connect()  # idempotent; opens a paper account's books on first use
        power = broker.balance().buying_power
        spendable = max(0, min(power, int(dep["capital_cap"]) - held * quote.price))
        previous = int(targets[-2]) if len(targets) > 1 else 0
        order = plan(target, previous, held, spendable, quote.price, int(buy[0]), desk.costs.commission_ppb)
        if order is not None:
            side, quantity = order
            body = {"account_id": str(dep["account_id"]), "symbol": dep["symbol"], "side": side,
                    "quantity": quantity, "order_type": "limit", "price": int(buy[0] if side == "buy" else sell[0])}
            key = f"live-{dep['id']}-{bar_date}-{side}"
            status, answer = orders.place_order(desk, str(dep["user_id"]), body, idempotency_key=key)
            placed.append({**body, "status": status, "order_id": str(answer.get("id")), "state": answer.get("state")})
    except AppError as e:
        _record(resources.pool, evaluation, target=target, placed=placed, error=e.to_dict()["error"])
        return {"status": "error", "error": e.code}
    _record(resources.pool, evaluation, target=target, placed=placed, error=None)
    return {"status": "evaluated", "orders": len(placed)}


@timetable.task("strategies", due)
def evaluate_due(resources: Any, now: dt.datetime, *, source: Any = None) -> dict[str, Any]:
    """Evaluate every active deployment once for its latest completed bar."""
    desk = orders.current(resources)
    source = source or source_for(resources.pool)
    with db.service(resources.pool) as conn:
        deps = conn.execute("SELECT id, user_id, account_id, strategy, params, symbol, capital_cap"
                            " FROM strategy_deployments WHERE status = 'active' ORDER BY created_at").fetchall()
    report = {"evaluated": 0, "already_evaluated": 0, "error": 0, "orders": 0}
    for dep in deps:
        try:
            outcome = evaluate(resources, desk, dep, now, source)
        except AppError as e:  # e.g. no bars for the symbol: nothing was claimed, try next minute
            log.warning("deployment not evaluated", extra={"deployment": str(dep["id"]), "error": e.code})
            outcome = {"status": "error"}
        report[outcome["status"]] += 1
        report["orders"] += outcome.get("orders", 0)
    return report
