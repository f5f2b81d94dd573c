"""Portfolio: what the books are worth (`holdings`), how they did (`equity_curve`), and how they
were traded (`activity`)."""

from autostock.portfolio.activity import analytics
from autostock.portfolio.equity_curve import performance
from autostock.portfolio.holdings import summary

__all__ = ["analytics", "performance", "summary"]
