"""Market data tables: partition upkeep, idempotent writes of ticks and bars.

Works the same on TimescaleDB hypertables and on native range partitions (migration 0400);
only `ensure_partitions`/`maintain` differ, and they ask the database which one it is.
Every write here is idempotent on the table's key, so a replayed batch changes nothing.

Ticks are `autostock.market.quotes.Tick`s (the NATS wire format) whose `seq` is the day's
cumulative volume after the trade (KIS ACML_VOL): it grows with every trade of a code, so
(code, ts, cum_volume) names one trade and a trade seen twice is recognised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from autostock import db
from autostock.market.calendar import SEOUL
from autostock.market.quotes import Tick

TABLES = ("ticks", "bars_1m", "bars_1d")
# How far ahead the maintenance task keeps partitions, and how long ticks are kept.
AHEAD_DAYS = 7
TICK_RETENTION_DAYS = 90


@dataclass(frozen=True)
class MinuteBar:
    code: str
    at: dt.datetime           # the minute's start
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "at": self.at.isoformat(), "open": self.open, "high": self.high,
                "low": self.low, "close": self.close, "volume": self.volume, "trades": self.trades}


def has_timescale(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT market_has_timescale() AS ok").fetchone()
    return bool(row["ok"] if isinstance(row, dict) else row[0])


def ensure_partitions(conn: psycopg.Connection, table: str, start: dt.datetime | dt.date,
                      end: dt.datetime | dt.date) -> int:
    """Create the partitions of `table` covering [start, end]; 0 on TimescaleDB."""
    if table not in TABLES:
        raise ValueError(f"not a market data table: {table}")
    row = conn.execute("SELECT market_ensure_partitions(%s, %s, %s) AS n",
                       (table, _aware(start), _aware(end))).fetchone()
    return int(row["n"])


def maintain(pool: ConnectionPool, now: dt.datetime | None = None, *, ahead_days: int = AHEAD_DAYS,
             tick_retention_days: int = TICK_RETENTION_DAYS) -> dict[str, int]:
    """The market-clock task: partitions for the days ahead, and tick retention.

    Safe to call every minute: it creates only what is missing and drops only whole old
    partitions. On TimescaleDB the extension's own policies do this and the calls are no-ops.
    """
    now = now or dt.datetime.now(SEOUL)
    created = dropped = 0
    with db.service(pool) as conn:
        for table in TABLES:
            created += ensure_partitions(conn, table, now - dt.timedelta(days=1), now + dt.timedelta(days=ahead_days))
        row = conn.execute("SELECT market_drop_partitions('ticks', %s) AS n",
                           (now - dt.timedelta(days=tick_retention_days),)).fetchone()
        dropped = int(row["n"])
    return {"created": created, "dropped": dropped}


def _aware(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=SEOUL)
    return dt.datetime.combine(value, dt.time(), SEOUL)


def copy_ticks(conn: psycopg.Connection, ticks: Sequence[Tick]) -> int:
    """Store ticks with COPY through a staging table; a tick already stored is skipped.

    COPY straight into `ticks` would abort the whole batch on one duplicate key (a replay after
    a reconnect), so it lands in a temp table and moves over with ON CONFLICT DO NOTHING.
    Returns the number of new ticks.
    """
    if not ticks:
        return 0
    ensure_partitions(conn, "ticks", min(t.at for t in ticks), max(t.at for t in ticks))
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS ticks_stage (LIKE ticks) ON COMMIT DELETE ROWS")
    with conn.cursor() as cur:
        with cur.copy("COPY ticks_stage (code, ts, price, volume, cum_volume) FROM STDIN") as copy:
            for t in ticks:
                copy.write_row((t.code, t.at, t.price, t.volume, int(t.seq)))
        cur.execute("INSERT INTO ticks SELECT DISTINCT ON (code, ts, cum_volume) * FROM ticks_stage"
                    " ON CONFLICT DO NOTHING")
        inserted = cur.rowcount
        cur.execute("TRUNCATE ticks_stage")
    return inserted


def upsert_minute_bars(conn: psycopg.Connection, bars: Iterable[MinuteBar]) -> int:
    """Insert or correct 1-minute bars by (code, ts); an identical bar is left alone."""
    rows = [(b.code, b.at, b.open, b.high, b.low, b.close, b.volume, b.trades) for b in bars]
    if not rows:
        return 0
    ensure_partitions(conn, "bars_1m", min(r[1] for r in rows), max(r[1] for r in rows))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bars_1m (code, ts, open, high, low, close, volume, trades)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (code, ts) DO UPDATE SET open = excluded.open, high = excluded.high,"
            " low = excluded.low, close = excluded.close, volume = excluded.volume, trades = excluded.trades"
            " WHERE (bars_1m.open, bars_1m.high, bars_1m.low, bars_1m.close, bars_1m.volume, bars_1m.trades)"
            " IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close,"
            " excluded.volume, excluded.trades)", rows)
    return len(rows)


@dataclass(frozen=True)
class DailyRow:
    code: str
    day: dt.date
    open: int
    high: int
    low: int
    close: int
    volume: int


def upsert_daily_bars(conn: psycopg.Connection, rows: Sequence[DailyRow]) -> dict[str, int]:
    """Insert new daily bars, correct changed ones, leave identical ones alone.

    Returns counts of inserted, updated and unchanged rows, so importing twice reports 0/0/n.
    """
    if not rows:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    ensure_partitions(conn, "bars_1d", min(r.day for r in rows), max(r.day for r in rows))
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS bars_1d_stage (LIKE bars_1d) ON COMMIT DELETE ROWS")
    with conn.cursor() as cur:
        with cur.copy("COPY bars_1d_stage (code, day, open, high, low, close, volume) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.code, r.day, r.open, r.high, r.low, r.close, r.volume))
        # xmax = 0 cannot tell inserts from updates on a partitioned table, so count first.
        cur.execute("SELECT count(*) AS n FROM bars_1d_stage s JOIN bars_1d b USING (code, day)")
        existing = int(_first(cur.fetchone()))
        cur.execute(
            "WITH changed AS ("
            " INSERT INTO bars_1d AS b SELECT * FROM bars_1d_stage"
            " ON CONFLICT (code, day) DO UPDATE SET open = excluded.open, high = excluded.high,"
            " low = excluded.low, close = excluded.close, volume = excluded.volume"
            " WHERE (b.open, b.high, b.low, b.close, b.volume)"
            " IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)"
            " RETURNING 1) SELECT count(*) AS n FROM changed")
        changed = int(_first(cur.fetchone()))
        cur.execute("TRUNCATE bars_1d_stage")
    ins = len(rows) - existing
    upd = changed - ins
    return {"inserted": ins, "updated": upd, "unchanged": len(rows) - ins - upd}


def _first(row: object) -> object:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index, union-attr]


def last_tick(conn: psycopg.Connection, code: str) -> dict[str, Any] | None:
    """The newest stored tick of `code` (ts, cum_volume), or None."""
    return conn.execute("SELECT ts, cum_volume FROM ticks WHERE code = %s ORDER BY ts DESC, cum_volume DESC"
                        " LIMIT 1", (code,)).fetchone()


def ticks_to_rebuild(conn: psycopg.Connection, code: str, day_start: dt.datetime) -> list[Tick]:
    """Stored ticks of `code` from `day_start` that no stored 1-minute bar covers yet, in order:
    what a restarted collector replays to rebuild its open bar (and any bar it never stored)."""
    row = conn.execute("SELECT max(ts) AS ts FROM bars_1m WHERE code = %s AND ts >= %s",
                       (code, day_start)).fetchone()
    since = row["ts"] + dt.timedelta(minutes=1) if row and row["ts"] else day_start
    rows = conn.execute("SELECT ts, price, volume, cum_volume FROM ticks WHERE code = %s AND ts >= %s"
                        " ORDER BY ts, cum_volume", (code, since)).fetchall()
    return [Tick(code, r["price"], r["volume"], r["ts"], str(r["cum_volume"])) for r in rows]
