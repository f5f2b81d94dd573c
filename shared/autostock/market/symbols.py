"""The symbol master: loading the KRX listing, searching by code or Korean/English name."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from autostock import db
from autostock.errors import NotFound, ValidationError

# English names where known (the KRX listing carries Korean names only). Indices get codes of
# their own; their prices are stored in hundredths of a point (price_scale 100).
ENGLISH_NAMES = {
    "005930": "Samsung Electronics", "000660": "SK hynix", "005380": "Hyundai Motor",
    "035420": "NAVER", "051910": "LG Chem", "035720": "Kakao", "068270": "Celltrion",
}
INDICES = {
    "KOSPI": ("코스피", "KOSPI Composite Index"),
    "KOSDAQ": ("코스닥", "KOSDAQ Composite Index"),
}
SEARCH_LIMIT_MAX = 50


# The listing has no product column; KRX fund names start with their family's brand.
ETF_NAME = re.compile(r"^(KODEX|TIGER|KBSTAR|ARIRANG|KOSEF|HANARO|ACE|SOL|RISE|PLUS|KIWOOM)\b")


def product_of(name_ko: str | None) -> str:
    """`etf` for a listed fund (by its name), else `stock`: what tick grid and sell tax apply."""
    return "etf" if ETF_NAME.match(name_ko or "") else "stock"


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_listing(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a KRX `listing.csv` (code,isin,name,market,dept,listed_shares,industry,listing_date),
    plain or gzip, as `symbols` rows."""
    with _open_text(Path(path)) as f:
        for row in csv.DictReader(f):
            code = row["code"].strip().upper()
            yield {
                "code": code, "isin": row.get("isin") or None, "name_ko": row["name"].strip(),
                "name_en": ENGLISH_NAMES.get(code), "market": row["market"].strip(),
                "sector": row.get("industry") or None, "dept": row.get("dept") or None,
                "listed_shares": int(row["listed_shares"]) if row.get("listed_shares") else None,
                "listing_date": dt.date.fromisoformat(row["listing_date"]) if row.get("listing_date") else None,
                "status": "listed", "price_scale": 1,
            }


def index_rows() -> list[dict[str, Any]]:
    return [{"code": code, "isin": None, "name_ko": ko, "name_en": en, "market": "INDEX", "sector": None,
             "dept": None, "listed_shares": None, "listing_date": None, "status": "listed", "price_scale": 100}
            for code, (ko, en) in INDICES.items()]


_COLUMNS = ("code", "isin", "name_ko", "name_en", "market", "sector", "dept", "listed_shares",
            "listing_date", "status", "price_scale")


def upsert_symbols(pool: ConnectionPool, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or refresh symbols by code (a later listing wins; a known English name is kept)."""
    values = [tuple(r[c] for c in _COLUMNS) for r in rows]
    if not values:
        return 0
    with db.service(pool) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO symbols (code, isin, name_ko, name_en, market, sector, dept, listed_shares,"
            " listing_date, status, price_scale) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (code) DO UPDATE SET isin = excluded.isin, name_ko = excluded.name_ko,"
            " name_en = coalesce(excluded.name_en, symbols.name_en), market = excluded.market,"
            " sector = excluded.sector, dept = excluded.dept, listed_shares = excluded.listed_shares,"
            " listing_date = excluded.listing_date, status = excluded.status,"
            " price_scale = excluded.price_scale, updated_at = now()"
            " WHERE (symbols.isin, symbols.name_ko, symbols.market, symbols.sector, symbols.dept,"
            " symbols.listed_shares, symbols.listing_date, symbols.status, symbols.price_scale)"
            " IS DISTINCT FROM (excluded.isin, excluded.name_ko, excluded.market, excluded.sector,"
            " excluded.dept, excluded.listed_shares, excluded.listing_date, excluded.status,"
            " excluded.price_scale) OR (symbols.name_en IS NULL AND excluded.name_en IS NOT NULL)",
            values)
    return len(values)


def load_listing(pool: ConnectionPool, path: str | Path) -> int:
    """Load a listing file plus the index pseudo-symbols; returns how many rows were given."""
    return upsert_symbols(pool, [*read_listing(path), *index_rows()])


def known_codes(pool: ConnectionPool) -> dict[str, int]:
    """code → price_scale of every symbol."""
    with db.service(pool) as conn:
        return {r["code"]: r["price_scale"] for r in conn.execute("SELECT code, price_scale FROM symbols")}


_PUBLIC = ("code, isin, name_ko, name_en, market, sector, listed_shares, listing_date, status, price_scale")


def search(pool: ConnectionPool, user_id: str, q: str, *, market: str | None = None,
           limit: int = 20) -> list[dict[str, Any]]:
    """Symbols whose code starts with `q` or whose Korean/English name contains it.

    Exact code first, then code prefixes, then name prefixes, then the rest by name.
    """
    q = (q or "").strip()
    if not q:
        raise ValidationError("q is required (a code or part of a name)", code="missing_query")
    if len(q) > 40:
        raise ValidationError("q is longer than 40 characters")
    limit = max(1, min(limit, SEARCH_LIMIT_MAX))
    like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    prefix = like[1:]
    with db.tenant(pool, user_id) as conn:
        rows = conn.execute(
            f"SELECT {_PUBLIC} FROM symbols"  # noqa: S608 - fixed column list
            " WHERE (upper(code) LIKE upper(%s) OR lower(name_ko) LIKE %s OR lower(name_en) LIKE %s)"
            " AND (%s::text IS NULL OR market = %s)"
            " ORDER BY (upper(code) = upper(%s)) DESC, (upper(code) LIKE upper(%s)) DESC,"
            " (lower(name_ko) LIKE %s OR lower(name_en) LIKE %s) DESC, name_ko, code LIMIT %s",
            (prefix, like, like, market, market, q, prefix, prefix, prefix, limit)).fetchall()
    return [_public(r) for r in rows]


def get(pool: ConnectionPool, user_id: str, code: str) -> dict[str, Any]:
    with db.tenant(pool, user_id) as conn:
        row = conn.execute(f"SELECT {_PUBLIC} FROM symbols WHERE code = %s",  # noqa: S608
                           (code.strip().upper(),)).fetchone()
    if row is None:
        raise NotFound(f"unknown symbol {code!r}", code="symbol_not_found")
    return _public(row)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if out.get("listing_date") is not None:
        out["listing_date"] = out["listing_date"].isoformat()
    return out
