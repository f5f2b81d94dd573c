"""Market data in the tenancy registry: symbols and bars belong to nobody (see tests/tenancy.py)."""

from tests.tenancy import exempt

exempt("/api/v1/market/stocks/{code}", "public market data shared by every user; no owner to leak")
