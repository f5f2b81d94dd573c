import datetime as dt

import psycopg
import pytest

from autostock import db
from autostock.market import storage
from autostock.market.calendar import SEOUL
from autostock.market.quotes import Tick
from autostock.market.storage import DailyRow, MinuteBar


def _partitions(conn, table):
    return {r["relname"] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass", (table,))}


def test_maintain_creates_partitions_ahead_and_drops_old_ticks(resources):
    # Far in the past, so dropping old tick partitions never touches what other tests store.
    now = dt.datetime(1991, 3, 10, 10, 0, tzinfo=SEOUL)
    first = storage.maintain(resources.pool, now, ahead_days=3, tick_retention_days=30)
    again = storage.maintain(resources.pool, now, ahead_days=3, tick_retention_days=30)
    with db.service(resources.pool) as conn:
        if storage.has_timescale(conn):
            pytest.skip("TimescaleDB makes its own chunks")  # the native path is what this machine has
        ticks = _partitions(conn, "ticks")
        assert {"ticks_p19910309", "ticks_p19910310", "ticks_p19910313"} <= ticks
        assert "bars_1m_p199103" in _partitions(conn, "bars_1m")
        assert "bars_1d_p1991" in _partitions(conn, "bars_1d")
    assert first["created"] >= 5 and again["created"] == 0
    later = storage.maintain(resources.pool, now + dt.timedelta(days=40), ahead_days=0, tick_retention_days=30)
    assert later["dropped"] >= 5
    with db.service(resources.pool) as conn:
        assert "ticks_p19910310" not in _partitions(conn, "ticks")


def test_ticks_copy_is_idempotent(resources):
    at = dt.datetime(2031, 4, 1, 9, 0, 1, tzinfo=SEOUL)
    ticks = [Tick("005930", 70000, 10, at, "10"), Tick("005930", 70100, 5, at, "15"),
             Tick("005930", 70000, 1, at + dt.timedelta(seconds=1), "16")]
    with db.service(resources.pool) as conn:
        assert storage.copy_ticks(conn, ticks) == 3
    with db.service(resources.pool) as conn:
        assert storage.copy_ticks(conn, ticks + ticks[:1]) == 0
        n = conn.execute("SELECT count(*) AS n FROM ticks WHERE ts::date = '2031-04-01'").fetchone()["n"]
    assert n == 3


def test_bars_upsert_counts_and_app_role_reads_only(resources, user_factory):
    rows = [DailyRow("ZZTEST", dt.date(2031, 5, 1), 100, 110, 90, 105, 1000)]
    with db.service(resources.pool) as conn:
        assert storage.upsert_daily_bars(conn, rows) == {"inserted": 1, "updated": 0, "unchanged": 0}
        assert storage.upsert_daily_bars(conn, rows) == {"inserted": 0, "updated": 0, "unchanged": 1}
        changed = [DailyRow("ZZTEST", dt.date(2031, 5, 1), 100, 111, 90, 105, 1000)]
        assert storage.upsert_daily_bars(conn, changed) == {"inserted": 0, "updated": 1, "unchanged": 0}
        bar = MinuteBar("ZZTEST", dt.datetime(2031, 5, 1, 9, 0, tzinfo=SEOUL), 1, 2, 1, 2, 3, 1)
        storage.upsert_minute_bars(conn, [bar, bar])
    user = user_factory()
    with db.tenant(resources.pool, user["id"]) as conn:
        assert conn.execute("SELECT high FROM bars_1d WHERE code = 'ZZTEST'").fetchone()["high"] == 111
    for sql in ("DELETE FROM bars_1d", "INSERT INTO symbols (code, name_ko, market) VALUES ('X', 'x', 'KOSPI')",
                "UPDATE bars_1m SET close = 1"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.tenant(resources.pool, user["id"]) as conn:
            conn.execute(sql)


def test_bad_table_name_is_refused(resources):
    with db.service(resources.pool) as conn, pytest.raises(ValueError):
        storage.ensure_partitions(conn, "users", dt.date(2031, 1, 1), dt.date(2031, 1, 2))


def test_hypertables_with_compression_where_timescaledb_exists(resources):
    with db.service(resources.pool) as conn:
        if not storage.has_timescale(conn):
            pytest.skip("TimescaleDB is not installed here; the native partitions above are in use")
        tables = {r["hypertable_name"] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables")}
        jobs = {r["proc_name"] for r in conn.execute("SELECT proc_name FROM timescaledb_information.jobs")}
    assert {"ticks", "bars_1m", "bars_1d"} <= tables
    assert {"policy_compression", "policy_retention"} <= jobs
