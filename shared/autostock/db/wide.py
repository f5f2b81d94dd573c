"""Statements with many parameters, converted to PostgreSQL's `$n` placeholders once.

psycopg parses a statement's `%(name)s` placeholders on every execute unless the statement
has at most 50 parameters (it caches only those, so that ORM-built INSERTs with thousands of
rows do not fill its cache). Our hot statements are fixed texts, and the one that writes a
filled order with its events, fill, position, cash and notice has more than 50: parsing it
again on every order was about a tenth of the order path's Python. `execute` converts each
text once (cached here) and sends it through psycopg's `RawCursor`, which takes `$n`
placeholders as they are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import psycopg

_PLACEHOLDER = re.compile(r"%(?:\((\w+)\)s|(%)|(.?))", re.DOTALL)


@functools.lru_cache(maxsize=64)
def numbered(query: str) -> tuple[str, tuple[str, ...]]:
    """`query` with each `%(name)s` as `$n` (one number per name, however often it appears)
    and `%%` as `%`, and the names in their numbers' order. Any other `%` is a mistake in our
    own SQL (`%s`, `%b`, a lone `%`) and raises ValueError."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name, percent, _ = match.groups()
        if name:
            return f"${names.setdefault(name, len(names) + 1)}"
        if percent:
            return "%"
        raise ValueError(f"only %(name)s placeholders and %% are allowed, not {match.group(0)!r}")

    return _PLACEHOLDER.sub(number, query), tuple(names)


def execute(conn: psycopg.Connection, query: str, params: Mapping[str, Any]) -> psycopg.RawCursor[Any]:
    """Run `query` (named `%(name)s` placeholders, as everywhere else) with `params`; rows come
    back in the connection's row factory. A name the statement uses and `params` lacks raises
    KeyError before anything is sent."""
    text, names = numbered(query)
    values = [params[name] for name in names]
    return psycopg.RawCursor(conn).execute(text, values)
