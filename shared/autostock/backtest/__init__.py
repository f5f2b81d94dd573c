"""Backtesting: the engine, portfolio mode, metrics, strategies and optimisation.

    from autostock.backtest import Backtest
    result = Backtest(frame, "sma_cross", cash=10_000_000).run(fast=10, slow=30)
    result.stats()["final_equity"]

No Flask here; the `run-backtest` function and the rq jobs call into this package.
"""

from autostock.backtest.bars import Bars
from autostock.backtest.engine import Backtest, Result
from autostock.backtest.panel import Panel
from autostock.backtest.portfolio import Portfolio, PortfolioResult
from autostock.backtest.strategies import Param, Strategy, catalogue, lookup, register

__all__ = ["Backtest", "Bars", "Panel", "Param", "Portfolio", "PortfolioResult", "Result", "Strategy",
           "catalogue", "lookup", "register"]
