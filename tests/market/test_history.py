"""import-bars: our CSV, Kiwoom's Korean-header export, SQLite, bad rows, idempotency."""

import argparse
import csv
import dataclasses
import datetime as dt
import sqlite3

import pytest

from autostock import db
from autostock.errors import ValidationError
from autostock.market import commands, history
from tests.market.conftest import KRX


def _krx_rows(code, start, end):
    with open(KRX / "daily" / f"{code}.csv") as f:
        return [r for r in csv.DictReader(f) if start <= r["date"] <= end]


def _kiwoom_csv(path, rows, encoding="utf-8-sig"):
    """The layout of Kiwoom's daily chart export: newest first, YYYYMMDD, commas, direction signs."""
    lines = ["일자,시가,고가,저가,현재가,거래량,거래대금"]
    prev = None
    for r in reversed(rows):
        sign = "+" if prev is None or int(r["close"]) >= prev else "-"
        lines.append(",".join([r["date"].replace("-", ""), f'"{sign}{int(r["open"]):,}"', f'"{int(r["high"]):,}"',
                               f'"{int(r["low"]):,}"', f'"{sign}{int(r["close"]):,}"', f'"{int(r["volume"]):,}"', "0"]))
        prev = int(r["close"])
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _stored(resources, code, start, end):
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT day, open, high, low, close, volume FROM bars_1d"
                            " WHERE code = %s AND day BETWEEN %s AND %s ORDER BY day", (code, start, end)).fetchall()


def test_kiwoom_export_with_korean_headers_imports_exactly_and_twice_changes_nothing(resources, listed, tmp_path):
    rows = _krx_rows("000660", "2010-01-01", "2010-03-31")      # before the demo set, so nothing is there yet
    path = _kiwoom_csv(tmp_path / "A000660.csv", rows, encoding="cp949")
    first = history.import_rows(resources.pool, history.read_file(path, listed))
    assert first["layout"] == "kiwoom" and first["bad_rows"] == 0
    s = first["symbols"]["000660"]
    assert (s["rows"], s["first"], s["last"], s["inserted"], s["gaps"]) == (len(rows), "2010-01-04", "2010-03-31",
                                                                           len(rows), 0)
    stored = _stored(resources, "000660", dt.date(2010, 1, 1), dt.date(2010, 3, 31))
    assert [(str(r["day"]), r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in stored] == [
        (r["date"], *(int(r[k]) for k in ("open", "high", "low", "close", "volume"))) for r in rows]
    second = history.import_rows(resources.pool, history.read_file(path, listed))
    assert second["symbols"]["000660"] | {} == {**s, "inserted": 0, "unchanged": len(rows)}


def test_sqlite_table_with_code_column(resources, listed, tmp_path):
    rows = _krx_rows("005380", "2023-06-01", "2023-06-30")
    path = tmp_path / "old_setup.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x text)")
        conn.execute("CREATE TABLE daily (종목코드 text, 일자 text, 시가 integer, 고가 integer, 저가 integer,"
                     " 현재가 integer, 거래량 integer)")
        conn.executemany("INSERT INTO daily VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [("A005380", r["date"].replace("-", ""), r["open"], r["high"], r["low"], r["close"],
                           r["volume"]) for r in rows])
    report = history.import_rows(resources.pool, history.read_file(path, listed))
    assert report["source"].endswith(":daily")
    assert report["symbols"]["005380"]["rows"] == len(rows) and report["bad_rows"] == 0
    assert len(_stored(resources, "005380", dt.date(2023, 6, 1), dt.date(2023, 6, 30))) == len(rows)


def test_bad_rows_duplicates_and_gaps_are_reported_with_line_numbers(resources, listed, tmp_path):
    path = tmp_path / "000020.csv"                              # not in the demo set
    path.write_text(
        "date,open,high,low,close,volume\n"
        "2022-01-03,100,110,90,105,10\n"     # line 2 ok
        "2022-01-04,100,90,95,105,10\n"      # line 3 high below close
        "2022-01-05,abc,110,90,105,10\n"     # line 4 not a number
        "2022-13-01,100,110,90,105,10\n"     # line 5 not a date
        "2022-01-03,100,110,90,105,10\n"     # line 6 identical duplicate
        "2022-01-03,100,110,90,106,10\n"     # line 7 conflicting duplicate
        "2022-01-07,100,110,90,105,10\n")    # line 8 ok; 01-04..06 are sessions with no row
    report = history.import_rows(resources.pool, history.read_file(path, listed))
    assert report["rows_read"] == 7 and report["rows_valid"] == 2 and report["duplicates_dropped"] == 2
    lines = {b["line"]: b["reason"] for b in report["bad_row_details"]}
    assert set(lines) == {3, 4, 5, 7}
    assert "inconsistent OHLC" in lines[3] and "not a number" in lines[4] and "not a date" in lines[5]
    assert report["symbols"]["000020"]["gap_dates"] == ["2022-01-04", "2022-01-05", "2022-01-06"]
    assert "bad line 3" in history.format_report(report)


def test_unknown_symbol_and_layout_are_refused(resources, listed, tmp_path):
    path = tmp_path / "999999.csv"
    path.write_text("date,open,high,low,close,volume\n2022-01-03,100,110,90,105,10\n")
    report = history.import_rows(resources.pool, history.read_file(path, listed))
    assert report["bad_row_details"] == [{"line": 2, "reason": "unknown symbol 999999"}]
    other = tmp_path / "005930.csv"
    other.write_text("when,price\n2022-01-03,1\n")
    with pytest.raises(ValidationError) as e:
        history.read_file(other, listed)
    assert e.value.code == "unknown_layout"


def test_index_points_are_stored_in_hundredths(resources, listed):
    report = history.import_rows(resources.pool, history.read_file(KRX / "daily" / "KOSPI.csv", listed))
    assert report["bad_rows"] == 0
    day = _stored(resources, "KOSPI", dt.date(2024, 8, 5), dt.date(2024, 8, 5))[0]
    assert day["close"] == 244155  # 2441.55, a close the data README names


def test_cli_seed_demo_and_import_bars(resources, listed, tmp_path, capsys):
    report = commands.seed_demo(resources)
    assert set(report["symbols"]) == {"005930", "000660", "005380", "035420", "051910", "035720", "068270", "KOSPI"}
    assert all(s["first"] == "2015-01-02" for s in report["symbols"].values())
    assert commands.seed_demo(resources)["symbols"]["005930"]["inserted"] == 0
    path = _kiwoom_csv(tmp_path / "kw.csv", _krx_rows("051910", "2025-01-01", "2025-01-31"))
    args = argparse.Namespace(paths=[str(path)], code="051910", table=None, listing=None, from_broker=False,
                              codes="", start=None, end=None, json=False)
    reports = commands.import_bars(resources, args)
    assert reports[0]["bad_rows"] == 0 and reports[0]["symbols"]["051910"]["rows"] == 18
    with pytest.raises(ValidationError):
        commands.import_bars(resources, argparse.Namespace(**{**vars(args), "paths": []}))


def test_from_broker_fills_daily_bars_from_the_kis_daily_chart(resources, listed, exchange, market_settings):
    from autostock.brokers.sim.feed import read_daily_bars
    exchange.daily["005930"] = read_daily_bars(KRX / "daily" / "005930.csv")
    res = dataclasses.replace(resources, settings=market_settings)
    args = argparse.Namespace(paths=[], code=None, table=None, listing=None, from_broker=True, codes="005930",
                              start="2023-01-01", end="2023-12-31", json=True)
    report = commands.import_bars(res, args)[0]
    rows = _krx_rows("005930", "2023-01-01", "2023-12-31")
    assert report["layout"] == "broker" and report["bad_rows"] == 0
    assert report["symbols"]["005930"]["rows"] == len(rows) and report["symbols"]["005930"]["gaps"] == 0
    stored = _stored(resources, "005930", dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    assert [(str(r["day"]), r["close"]) for r in stored] == [(r["date"], int(r["close"])) for r in rows]
    with pytest.raises(ValidationError):
        commands.import_bars(res, argparse.Namespace(**{**vars(args), "codes": ""}))


def test_make_run_seeds_the_demo_history(settings, resources):
    from autostock.market import dev
    from autostock.runtime import extras
    assert dev.seed_market_data in extras.SEEDS and any(e.name == "stream" for e in extras.EXTRAS)
    assert dev.seed_market_data(settings).startswith("market data: 8 demo series")
