"""Daily-bar history import: our CSV, Kiwoom's daily-chart export, a SQLite table, a broker.

Every source becomes `DailyRow`s plus a list of bad rows (with line numbers); `import_rows`
upserts them (idempotent: importing twice changes nothing) and returns the verification
report: rows per symbol, date range, gaps against the XKRX calendar, duplicates dropped, bad
rows. Documented in docs/operations (import-bars) and shown by tests/market/test_history.py.

Formats
- ours (`../shared/data/krx/daily/*.csv`): `date,open,high,low,close,volume`, ISO dates; the
  code comes from the file name (`005930.csv`) or `--code`. Index files carry 2-decimal
  points and are stored in hundredths (symbols.price_scale = 100).
- Kiwoom (영웅문 일봉 차트 export / opt10081 output): `일자,시가,고가,저가,현재가,거래량` (other
  columns ignored; `종목코드` names the code when present), dates `20240102`, numbers with
  thousands separators and a leading `+`/`-` that marks the move's direction, not the sign
  of the price; UTF-8 (with or without BOM) or CP949.
- SQLite: a table with either header set (`--table`, else the first table that has one);
  the code from a `code`/`종목코드` column, `--code`, or a table named like a code (`A005930`).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from autostock import db
from autostock.brokers.base import Broker
from autostock.errors import ValidationError
from autostock.market import calendar
from autostock.market.storage import DailyRow, upsert_daily_bars

OURS = {"date": "date", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}
KIWOOM = {"일자": "date", "시가": "open", "고가": "high", "저가": "low", "현재가": "close", "거래량": "volume"}
CODE_COLUMNS = ("code", "종목코드", "symbol")
MAX_BAD_ROWS_SHOWN = 50
MAX_GAPS_SHOWN = 20
_CODE_IN_NAME = re.compile(r"^A?([0-9A-Z]{6})$|^(KOSPI|KOSDAQ)$")


@dataclass(frozen=True)
class BadRow:
    line: int          # 1-based line in the file (header = 1); the row number for SQLite
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass
class Parsed:
    source: str
    layout: str
    rows: list[tuple[int, DailyRow]] = field(default_factory=list)   # (line, row)
    bad: list[BadRow] = field(default_factory=list)


def code_from_name(name: str) -> str | None:
    m = _CODE_IN_NAME.match(Path(name.removesuffix(".gz")).stem.upper().split("_")[0])
    return (m.group(1) or m.group(2)) if m else None


def _layout(headers: Sequence[str]) -> tuple[str, dict[str, str]]:
    clean = [h.strip().lstrip("\ufeff") for h in headers]
    for name, mapping in (("ours", OURS), ("kiwoom", KIWOOM)):
        if all(k in clean for k in mapping):
            return name, mapping
    raise ValidationError(
        "unrecognised columns: expected date,open,high,low,close,volume or 일자,시가,고가,저가,현재가,거래량",
        code="unknown_layout", details={"columns": clean})


def _number(raw: object, scale: int) -> int:
    text = str(raw).strip().replace(",", "")
    if text[:1] in "+-":
        text = text[1:]  # Kiwoom marks the direction of the move with the sign
    if not text:
        raise ValueError("empty value")
    try:
        value = Decimal(text) * scale
    except InvalidOperation as e:
        raise ValueError(f"not a number: {raw!r}") from e
    if value != value.to_integral_value():
        raise ValueError(f"more decimals than the symbol allows: {raw!r}")
    return int(value)


def _date(raw: object) -> dt.date:
    text = str(raw).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {raw!r}")


def _row(record: dict[str, Any], mapping: dict[str, str], code: str, scale: int) -> DailyRow:
    values = {mapping[k]: record.get(k) for k in mapping}
    day = _date(values["date"])
    o, h, lo, c = (_number(values[k], scale) for k in ("open", "high", "low", "close"))
    vol = _number(values["volume"], 1)
    if min(o, h, lo, c) <= 0:
        raise ValueError("prices must be above 0")
    if lo > min(o, c) or h < max(o, c):
        raise ValueError(f"inconsistent OHLC: low {lo} high {h} open {o} close {c}")
    return DailyRow(code, day, o, h, lo, c, vol)


def _code_of(record: dict[str, Any], default: str | None) -> str | None:
    for col in CODE_COLUMNS:
        if record.get(col):
            return code_from_name(str(record[col]).strip()) or str(record[col]).strip().upper()
    return default


def parse_records(records: Iterable[tuple[int, dict[str, Any]]], headers: Sequence[str], source: str,
                  code: str | None, scales: dict[str, int]) -> Parsed:
    """Turn (line, record) pairs into rows and bad rows; unknown symbols are bad rows too."""
    layout, mapping = _layout(headers)
    # Headers may carry a BOM or spaces; map the raw header to its clean name.
    rename = {h: h.strip().lstrip("\ufeff") for h in headers}
    parsed = Parsed(source, layout)
    for line, raw in records:
        record = {rename.get(k, k): v for k, v in raw.items()}
        row_code = _code_of(record, code)
        if row_code is None:
            parsed.bad.append(BadRow(line, "no symbol code (give --code or a code column)"))
            continue
        if row_code not in scales:
            parsed.bad.append(BadRow(line, f"unknown symbol {row_code}"))
            continue
        try:
            parsed.rows.append((line, _row(record, mapping, row_code, scales[row_code])))
        except (ValueError, TypeError, KeyError) as e:
            parsed.bad.append(BadRow(line, str(e)))
    return parsed


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp949")  # Kiwoom exports made on Windows


def read_csv(path: str | Path, scales: dict[str, int], code: str | None = None) -> Parsed:
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = _decode(data)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    headers = reader.fieldnames or []
    records = ((reader.line_num, rec) for rec in reader)
    return parse_records(records, headers, str(path), code or code_from_name(path.name), scales)


def read_sqlite(path: str | Path, scales: dict[str, int], code: str | None = None,
                table: str | None = None) -> Parsed:
    path = Path(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        chosen = table if table in tables else None
        if table and chosen is None:
            raise ValidationError(f"no table {table!r} in {path.name}", code="unknown_table",
                                  details={"tables": tables})
        for name in ([chosen] if chosen else tables):
            cur = conn.execute(f'SELECT * FROM "{name.replace(chr(34), "")}"')  # noqa: S608 - name from sqlite_master
            headers = [d[0] for d in cur.description]
            try:
                _layout(headers)
            except ValidationError:
                if chosen:
                    raise
                continue
            records = ((i, dict(zip(headers, rec, strict=True))) for i, rec in enumerate(cur.fetchall(), 1))
            return parse_records(records, headers, f"{path}:{name}", code or code_from_name(name), scales)
        raise ValidationError(f"no table with daily bars in {path.name}", code="unknown_layout",
                              details={"tables": tables})
    finally:
        conn.close()


def read_file(path: str | Path, scales: dict[str, int], code: str | None = None,
              table: str | None = None) -> Parsed:
    """Parse a CSV (plain) or SQLite file, chosen by its first bytes."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"no such file: {path}", code="file_not_found")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"SQLite format 3"):
        return read_sqlite(path, scales, code, table)
    return read_csv(path, scales, code)


def _dedupe(parsed: Parsed) -> tuple[list[DailyRow], int]:
    seen: dict[tuple[str, dt.date], DailyRow] = {}
    dropped = 0
    for line, row in parsed.rows:
        key = (row.code, row.day)
        if key in seen:
            dropped += 1
            if seen[key] != row:
                parsed.bad.append(BadRow(line, f"conflicting duplicate of {row.code} {row.day}; first kept"))
            continue
        seen[key] = row
    return list(seen.values()), dropped


def _gaps(days: list[dt.date]) -> list[dt.date]:
    have = set(days)
    return [d for d in calendar.sessions_between(min(days), max(days)) if d not in have]


def summarise(rows: list[DailyRow], counts: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    by_code: dict[str, list[dt.date]] = defaultdict(list)
    for r in rows:
        by_code[r.code].append(r.day)
    out = {}
    for code, days in sorted(by_code.items()):
        gaps = _gaps(days)
        out[code] = {"rows": len(days), "first": min(days).isoformat(), "last": max(days).isoformat(),
                     "gaps": len(gaps), "gap_dates": [d.isoformat() for d in gaps[:MAX_GAPS_SHOWN]],
                     **counts.get(code, {"inserted": 0, "updated": 0, "unchanged": 0})}
    return out


def import_rows(pool: ConnectionPool, parsed: Parsed) -> dict[str, Any]:
    """Upsert the parsed rows (one transaction) and return the verification report."""
    read = len(parsed.rows) + len(parsed.bad)
    rows, dropped = _dedupe(parsed)
    counts: dict[str, dict[str, int]] = {}
    by_code: dict[str, list[DailyRow]] = defaultdict(list)
    for r in rows:
        by_code[r.code].append(r)
    with db.service(pool) as conn:
        for code, code_rows in by_code.items():
            counts[code] = upsert_daily_bars(conn, code_rows)
    bad = sorted(parsed.bad, key=lambda b: b.line)
    return {
        "source": parsed.source, "layout": parsed.layout, "rows_read": read,
        "rows_valid": len(rows), "duplicates_dropped": dropped, "bad_rows": len(bad),
        "bad_row_details": [b.to_json() for b in bad[:MAX_BAD_ROWS_SHOWN]],
        "symbols": summarise(rows, counts),
    }


def from_broker(broker: Broker, codes: Sequence[str], start: dt.date, end: dt.date,
                scales: dict[str, int]) -> Parsed:
    """Daily bars from a broker's daily-chart call, as a `Parsed` like a file's."""
    parsed = Parsed(f"broker:{broker.name or type(broker).__name__}", "broker")
    for code in codes:
        if code not in scales:
            parsed.bad.append(BadRow(0, f"unknown symbol {code}"))
            continue
        for i, bar in enumerate(broker.daily_bars(code, start, end), 1):
            try:
                row = DailyRow(code, bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume)
                if row.low > min(row.open, row.close) or row.high < max(row.open, row.close) or row.low <= 0:
                    raise ValueError(f"inconsistent OHLC from the broker on {bar.date}")
                parsed.rows.append((i, row))
            except ValueError as e:
                parsed.bad.append(BadRow(i, f"{code}: {e}"))
    return parsed


def format_report(report: dict[str, Any]) -> str:
    """The report as the CLI prints it (plain text; `--json` prints the dict instead)."""
    lines = [f"source: {report['source']} ({report['layout']})",
             f"rows read {report['rows_read']}, valid {report['rows_valid']}, "
             f"duplicates dropped {report['duplicates_dropped']}, bad rows {report['bad_rows']}"]
    for code, s in report["symbols"].items():
        lines.append(f"  {code}: {s['rows']} rows {s['first']}..{s['last']}  inserted {s['inserted']}"
                     f" updated {s['updated']} unchanged {s['unchanged']}  gaps {s['gaps']}"
                     + (f" (first: {', '.join(s['gap_dates'][:5])})" if s["gaps"] else ""))
    for b in report["bad_row_details"]:
        lines.append(f"  bad line {b['line']}: {b['reason']}")
    return "\n".join(lines)
