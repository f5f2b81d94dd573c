"""Market data and KRX market rules (ticks, limits, costs, calendar)."""
