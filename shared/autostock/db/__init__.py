"""PostgreSQL: migrations and the tenancy-scoped transactions every use case runs in."""

from autostock.db.tenancy import service, tenant

__all__ = ["service", "tenant"]
