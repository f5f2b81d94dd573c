"""Acceptance: on real KRX data (005930), SMA cross through the engine equals a plain loop.

The loop below is written independently of the engine: bar by bar, window sums with Python
ints, scalar tick rounding (market.rules) and scalar costs (market.costs.CostModel).
"""

import datetime as dt

import pytest

from autostock.backtest import Backtest
from autostock.market.costs import CostModel
from autostock.market.rules import round_to_tick, tick_size


def loop_sma_cross(rows, fast, slow, cash, slippage):
    costs = CostModel()
    closes, fills, shares = [], [], 0
    want_prev = False
    for i, (day, o, c) in enumerate(rows):
        if i > 0 and want_prev != (shares > 0):
            on = dt.date.fromisoformat(day)
            if want_prev:
                price = round_to_tick(o, "KOSPI", up=True, on=on)
                for _ in range(slippage):
                    price += tick_size(price, "KOSPI", on=on)
                q = 0
                while (q + 1) * price + costs.commission((q + 1) * price) <= cash:
                    q += 1
                if q:
                    fee = costs.commission(q * price)
                    cash -= q * price + fee
                    shares = q
                    fills.append((day, "buy", q, price, fee, 0))
            else:
                price = round_to_tick(o, "KOSPI", up=False, on=on)
                for _ in range(slippage):  # one tick below: the tick of the price just under
                    price -= tick_size(price - 1, "KOSPI", on=on)
                fee, tax = costs.costs(shares * price, side="sell", market="KOSPI", on=on)
                cash += shares * price - fee - tax
                fills.append((day, "sell", shares, price, fee, tax))
                shares = 0
        closes.append(c)
        want_prev = (len(closes) >= slow
                     and sum(closes[-fast:]) / fast > sum(closes[-slow:]) / slow)
    return fills, cash + shares * rows[-1][2]


@pytest.mark.parametrize("fast, slow, slippage", [(10, 30, 0), (5, 20, 1)])
def test_engine_equals_independent_loop(samsung, fast, slow, slippage):
    # The buy loop above counts up share by share; keep the cash small enough for that to be quick.
    frame = samsung.loc["2008":]
    rows = [(d.strftime("%Y-%m-%d"), int(o), int(c)) for d, o, c in zip(frame.index, frame["open"], frame["close"])]
    want_fills, want_equity = loop_sma_cross(rows, fast, slow, 3_000_000, slippage)
    result = Backtest(frame, "sma_cross", cash=3_000_000, slippage_ticks=slippage, symbol="005930").run(
        fast=fast, slow=slow)
    got = [(f["date"], f["side"], f["quantity"], f["price"], f["commission"], f["tax"]) for f in result.fill_list()]
    assert len(got) > 50
    assert got == want_fills
    assert result.stats()["final_equity"] == want_equity
