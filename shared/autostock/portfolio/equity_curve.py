"""Performance from the daily equity snapshots: returns, drawdown, Sharpe, a benchmark.

Money stays integer; ratios (returns, Sharpe) are floats because they are not money.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from autostock import db
from autostock.errors import ValidationError
from autostock.orders.queries import _uuid
from autostock.resources import Resources

TRADING_DAYS = 252


def _day(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise ValidationError(f"{name} must be a date YYYY-MM-DD", code="invalid_date") from e


def returns(values: list[int]) -> list[float]:
    return [b / a - 1.0 for a, b in zip(values, values[1:]) if a > 0]


def max_drawdown(values: list[int]) -> float:
    """The deepest fall from a peak, as a negative fraction (0.0 when it never fell)."""
    peak, worst = 0, 0.0
    for v in values:
        peak = max(peak, v)
        if peak > 0:
            worst = min(worst, v / peak - 1.0)
    return worst


def sharpe(daily: list[float]) -> float | None:
    """Annualised Sharpe ratio of daily returns (risk-free 0); None under two returns."""
    if len(daily) < 2:
        return None
    mean = sum(daily) / len(daily)
    var = sum((r - mean) ** 2 for r in daily) / (len(daily) - 1)
    return None if var == 0 else mean / math.sqrt(var) * math.sqrt(TRADING_DAYS)


def performance(resources: Resources, user_id: str, *, account_id: str | None = None,
                start: str | None = None, end: str | None = None, benchmark: str = "KOSPI") -> dict[str, Any]:
    """Equity curve (summed over accounts) with its statistics and the benchmark's return."""
    if account_id:
        _uuid(account_id, "account")
    first, last = _day(start, "from"), _day(end, "to")
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT day, sum(equity) AS equity FROM equity_snapshots WHERE user_id = %s"
            " AND (%s::uuid IS NULL OR account_id = %s::uuid) AND (%s::date IS NULL OR day >= %s::date)"
            " AND (%s::date IS NULL OR day <= %s::date) GROUP BY day ORDER BY day",
            (user_id, account_id, account_id, first, first, last, last)).fetchall()
        bench = conn.execute(
            "SELECT day, close FROM bars_1d WHERE code = %s AND day = ANY(%s) ORDER BY day",
            (benchmark.upper(), [r["day"] for r in rows])).fetchall() if rows else []
    curve = [{"day": r["day"].isoformat(), "equity": int(r["equity"])} for r in rows]
    values = [int(r["equity"]) for r in rows]
    daily = returns(values)
    closes = [int(b["close"]) for b in bench]
    total = values[-1] / values[0] - 1.0 if len(values) > 1 and values[0] > 0 else 0.0
    bench_total = closes[-1] / closes[0] - 1.0 if len(closes) > 1 and closes[0] > 0 else None
    return {
        "equity_curve": curve,
        "total_return": total,
        "max_drawdown": max_drawdown(values),
        "sharpe": sharpe(daily),
        "volatility": (math.sqrt(sum((r - sum(daily) / len(daily)) ** 2 for r in daily) / (len(daily) - 1))
                       * math.sqrt(TRADING_DAYS)) if len(daily) > 1 else None,
        "benchmark": {"code": benchmark.upper(), "total_return": bench_total,
                      "excess_return": None if bench_total is None else total - bench_total,
                      "days": len(closes)},
        "days": len(values),
    }
