"""Market data in the tenancy registry (see tests/tenancy.py): public, owned by nobody."""

from tests.tenancy import exempt

exempt("/api/v1/market/stocks/{code}", "a KRX symbol is public market data, not a user's resource")
