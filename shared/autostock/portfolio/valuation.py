"""Prices for valuing holdings: the latest quote in Redis, else the last daily close."""

from __future__ import annotations

import datetime as dt

from autostock import db
from autostock.market.quotes import read_quote
from autostock.resources import Resources


def closing_prices(resources: Resources, symbols: list[str], day: dt.date | None = None) -> dict[str, int]:
    """symbol → price in KRW for the symbols that have one (missing ones are left out)."""
    prices: dict[str, int] = {}
    for symbol in symbols:
        quote = read_quote(resources.redis, resources.settings, symbol)
        if quote is not None and quote.price > 0:
            prices[symbol] = quote.price
    missing = [s for s in symbols if s not in prices]
    if missing:
        with db.service(resources.pool) as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (code) code, close FROM bars_1d WHERE code = ANY(%s)"
                " AND (%s::date IS NULL OR day <= %s::date) ORDER BY code, day DESC",
                (missing, day, day)).fetchall()
        prices.update({r["code"]: int(r["close"]) for r in rows})
    return prices


def mark(quantity: int, cost_basis: int, price: int | None) -> int:
    """Market value of a holding; at cost when no price is known."""
    if price is None:
        return cost_basis
    return quantity * price
