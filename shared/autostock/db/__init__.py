"""PostgreSQL: migrations and the tenancy-scoped transactions every use case runs in."""

import re
from collections.abc import Iterable

from autostock.db.tenancy import service, tenant

__all__ = ["constant_list", "service", "tenant"]

_WORD = re.compile(r"^\w+$")


def constant_list(values: Iterable[str]) -> str:
    """`('a', 'b')`: the platform's own constants written into a statement, where a hot query
    would otherwise pass an array parameter to adapt (and its plan could not match a partial
    index on them). Word characters only, checked, so nothing here is ever input."""
    values = list(values)
    if not values or not all(_WORD.match(v) for v in values):
        raise ValueError(f"not a list of SQL-safe constants: {values!r}")
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
