"""Portfolio: what the books are worth, how they did, and how they were traded."""

from autostock.portfolio.analytics import analytics
from autostock.portfolio.performance import performance
from autostock.portfolio.summary import summary

__all__ = ["analytics", "performance", "summary"]
