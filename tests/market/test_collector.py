"""tick-collector against the KIS websocket simulator, with real Redis, NATS and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import urllib.request

import pandas as pd
import pytest

from autostock import db
from autostock.errors import ValidationError
from autostock.market.calendar import SEOUL
from autostock.market.collector import listing_of, plan_sessions
from autostock.market.quotes import read_quote
from tests.helpers import eventually


class Tape:
    """Trades of one code: seconds from 10:00 on the sim's day, cumulative volume kept."""

    def __init__(self, code: str, price: int, seed: int, day: str = "20260303") -> None:
        self.code, self.price, self.day = code, price, day
        self.rng = random.Random(seed)
        self.cum = 0

    def trades(self, seconds: list[int]) -> list[dict]:
        out = []
        for s in seconds:
            self.price += self.rng.choice((-100, 0, 100))
            qty = self.rng.randint(1, 40)
            self.cum += qty
            at = dt.datetime(2026, 3, 3, 10, 0, tzinfo=SEOUL) + dt.timedelta(seconds=s)
            out.append({"STCK_PRPR": self.price, "CNTG_VOL": qty, "ACML_VOL": self.cum,
                        "STCK_CNTG_HOUR": at.strftime("%H%M%S"), "BSOP_DATE": self.day})
        return out


def push(sim, code, trades, per_frame=4):
    for i in range(0, len(trades), per_frame):
        sim.push_trades(code, trades[i:i + per_frame])


def push_in_time_order(sim, tapes):
    """Several codes' trades as a real feed brings them: in time order across codes. (One code's
    minutes sent ahead of another's move the feed clock, which closes the other code's bars
    before their ticks come: they would be late, as they would be on the exchange's feed.)"""
    for i in range(max(len(trades) for trades in tapes.values())):
        for code, trades in tapes.items():
            if i < len(trades):
                sim.push_trades(code, trades[i:i + 1])


def stored_ticks(resources, codes):
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT code, ts, price, volume, cum_volume FROM ticks WHERE code = ANY(%s)"
                            " AND ts::date = '2026-03-03' ORDER BY code, ts, cum_volume", (list(codes),)).fetchall()


def stored_bars(resources, codes):
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT code, ts, open, high, low, close, volume FROM bars_1m WHERE code = ANY(%s)"
                            " AND ts::date = '2026-03-03' ORDER BY code, ts", (list(codes),)).fetchall()


def independent_bars(trades_by_code: dict[str, list[dict]]) -> dict[tuple[str, dt.datetime], tuple]:
    """1-minute OHLCV with pandas from the trades as sent (not from anything the collector made)."""
    out = {}
    for code, trades in trades_by_code.items():
        df = pd.DataFrame({"ts": [dt.datetime.strptime("20260303" + t["STCK_CNTG_HOUR"], "%Y%m%d%H%M%S")
                                  .replace(tzinfo=SEOUL) for t in trades],
                           "price": [t["STCK_PRPR"] for t in trades], "volume": [t["CNTG_VOL"] for t in trades]})
        g = df.groupby(df["ts"].dt.floor("min"))
        agg = pd.DataFrame({"open": g["price"].first(), "high": g["price"].max(), "low": g["price"].min(),
                            "close": g["price"].last(), "volume": g["volume"].sum()})
        for minute, r in agg.iterrows():
            out[(code, minute.to_pydatetime())] = (int(r.open), int(r.high), int(r.low), int(r.close), int(r.volume))
    return out


def as_bars(rows):
    return {(r["code"], r["ts"].astimezone(SEOUL)): (r["open"], r["high"], r["low"], r["close"], r["volume"])
            for r in rows}


def test_sessions_are_planned_within_the_cap():
    plan = plan_sessions([f"{i:06d}" for i in range(85)], ["a", "b", "c"], 40)
    assert [len(c) for _, c in plan] == [40, 40, 5]
    with pytest.raises(ValidationError):
        plan_sessions([f"{i:06d}" for i in range(85)], ["a", "b"], 40)


def test_ticks_reach_redis_nats_postgres_and_bars_match_independent_ones(
        kis_ws, run_collector, resources, settings, tap):
    codes = ["005930", "000660"]
    ticks_tap, bars_tap = tap("ticks.>"), tap("bars.1m.>")
    running = run_collector(kis_ws.url, codes)
    eventually(lambda: len(kis_ws.subscriptions()) == 2)
    tapes = {c: Tape(c, 70_000 + 1000 * i, seed=i) for i, c in enumerate(codes)}
    sent = {c: tapes[c].trades(list(range(0, 180, 2))) for c in codes}    # three minutes
    push_in_time_order(kis_ws, sent)
    closing = {c: tapes[c].trades([240]) for c in codes}                  # a later minute closes 10:02
    for c in codes:
        push(kis_ws, c, closing[c])
    total = sum(len(v) for v in sent.values()) + len(codes)
    eventually(lambda: len(stored_ticks(resources, codes)) == total)
    eventually(lambda: len(ticks_tap.messages) == total)
    quote = eventually(lambda: read_quote(resources.redis, settings, "005930"))
    assert quote.price == closing["005930"][-1]["STCK_PRPR"] and quote.volume == tapes["005930"].cum

    expected = independent_bars(sent)
    assert len(expected) == 6
    eventually(lambda: len(stored_bars(resources, codes)) == 6)
    assert as_bars(stored_bars(resources, codes)) == expected
    eventually(lambda: len(bars_tap.messages) == 6)
    published = {(m["code"], dt.datetime.fromisoformat(m["at"])): (m["open"], m["high"], m["low"], m["close"],
                                                                  m["volume"]) for m in bars_tap.messages}
    assert published == expected
    nats_ticks = [(m["code"], m["price"], m["volume"]) for m in ticks_tap.messages if m["code"] == "005930"]
    assert nats_ticks == [("005930", t["STCK_PRPR"], t["CNTG_VOL"]) for t in sent["005930"] + closing["005930"]]

    port = running.collector.probe_port
    health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
    assert b'"connected": 1' in health
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "autostock_collector_subscriptions 2" in metrics and "autostock_collector_reconnects_total 0" in metrics
    running.stop()


def test_killed_connection_reconnects_without_duplicates_or_gaps(kis_ws, run_collector, resources, tap):
    code = "005380"
    bars_tap = tap(f"bars.1m.{code}")
    running = run_collector(kis_ws.url, [code])
    eventually(lambda: len(kis_ws.subscriptions()) == 1)
    tape = Tape(code, 180_000, seed=3)
    before = tape.trades(list(range(300, 350)))                 # 10:05:00..10:05:49
    push(kis_ws, code, before)
    eventually(lambda: len(stored_ticks(resources, [code])) == len(before))

    kis_ws.kill_connections()
    eventually(lambda: kis_ws.connection_count == 0 or running.collector.counters["reconnects"] > 0)
    eventually(lambda: running.collector.counters["reconnects"] >= 1 and len(kis_ws.subscriptions()) == 1)
    after = tape.trades(list(range(350, 480)))                  # to 10:07:59
    push(kis_ws, code, before[-5:] + after)                     # the feed replays its last five trades
    push(kis_ws, code, tape.trades([600]))                      # 10:10 closes 10:07
    eventually(lambda: len(stored_ticks(resources, [code])) == len(before) + len(after) + 1)
    rows = stored_ticks(resources, [code])
    assert len({(r["ts"], r["cum_volume"]) for r in rows}) == len(rows)
    assert [r["cum_volume"] for r in rows] == sorted(r["cum_volume"] for r in rows)
    assert running.collector.counters["duplicates"] == 5
    expected = independent_bars({code: before + after})
    eventually(lambda: len(stored_bars(resources, [code])) == len(expected))
    assert as_bars(stored_bars(resources, [code])) == expected
    eventually(lambda: len(bars_tap.messages) == len(expected))
    assert len({m["at"] for m in bars_tap.messages}) == len(expected)
    running.stop()


def test_restart_mid_minute_completes_the_open_bar_and_duplicates_nothing(kis_ws, run_collector, resources, tap):
    code = "035420"
    bars_tap = tap(f"bars.1m.{code}")
    first = run_collector(kis_ws.url, [code])
    eventually(lambda: len(kis_ws.subscriptions()) == 1)
    tape = Tape(code, 300_000, seed=9)
    part1 = tape.trades(list(range(900, 930)))                  # 10:15:00..10:15:29
    push(kis_ws, code, part1)
    eventually(lambda: len(stored_ticks(resources, [code])) == len(part1))
    first.stop()                                                # the 10:15 bar is still open
    assert stored_bars(resources, [code]) == [] and bars_tap.messages == []

    second = run_collector(kis_ws.url, [code], keys=("AK1",))
    eventually(lambda: len(kis_ws.subscriptions()) == 1)
    part2 = tape.trades(list(range(930, 960)))                  # 10:15:30..10:15:59
    push(kis_ws, code, part1[-3:] + part2)                      # replayed trades are recognised
    push(kis_ws, code, tape.trades([1020]))                     # 10:17 closes 10:15
    eventually(lambda: len(stored_bars(resources, [code])) == 1)
    assert as_bars(stored_bars(resources, [code])) == independent_bars({code: part1 + part2})
    eventually(lambda: len(bars_tap.messages) == 1)
    assert len(stored_ticks(resources, [code])) == len(part1) + len(part2) + 1
    second.stop()


def test_universe_larger_than_the_cap_uses_several_sessions(kis_ws, run_collector, resources, settings):
    codes = ["051910", "035720", "068270", "005930", "000660"]
    running = run_collector(kis_ws.url, codes, keys=("AK2", "AK3", "AK4"), per_session=2)
    eventually(lambda: len(kis_ws.subscriptions()) == 5 and kis_ws.connection_count == 3)
    for i, c in enumerate(codes):
        push(kis_ws, c, Tape(c, 10_000 * (i + 1), seed=i, day="20260304").trades([0, 1, 2]))
    for c in codes:
        eventually(lambda c=c: (q := read_quote(resources.redis, settings, c)) and q.at.day == 4)
    assert running.collector.health()[1]["connected"] == 3
    running.stop()


def test_autostock_collector_command_uses_platform_approval_keys(kis_ws, market_settings, settings, resources,
                                                                tmp_path, database_url):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": market_settings.redis_url.reveal(),
           "NATS_URL": settings.nats_url, "JWT_SECRET": "x" * 40, "ENCRYPTION_KEYS": "k",
           "REDIS_PREFIX": settings.redis_prefix, "NATS_PREFIX": settings.nats_prefix,
           "KIS_REAL_URL": market_settings.kis_real_url, "KIS_WS_URL": kis_ws.url,
           "KIS_MARKET_KEYS": market_settings.kis_market_keys.reveal(), "SECRETS_DIR": "/nonexistent"}
    proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "collector", "--universe", "068270,035720",
                             "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: len(kis_ws.subscriptions()) == 2, timeout=30)
        push(kis_ws, "068270", Tape("068270", 150_000, seed=1, day="20260305").trades([0, 1]))
        eventually(lambda: (q := read_quote(resources.redis, settings, "068270")) and q.at.day == 5, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, out


def test_an_etfs_quote_says_it_is_an_etf(kis_ws, exchange, run_collector, resources, settings):
    """The paper broker fills at the stored quote and takes the tick grid and the sell tax from
    its product: a fund's quote must say it is one (KRX funds trade on a 5-won grid, untaxed)."""
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO symbols (code, name_ko, market) VALUES ('069500', 'KODEX 200', 'KOSPI')"
                     " ON CONFLICT (code) DO UPDATE SET name_ko = EXCLUDED.name_ko")
    _, products = listing_of(resources.pool, ["069500", "005930"])
    assert products == {"069500": "etf", "005930": "stock"}
    exchange.add_instrument("069500", 35_000, name="KODEX 200")
    run_collector(kis_ws.url, ["069500"], products=products)
    eventually(lambda: len(kis_ws.subscriptions()) == 1)
    push(kis_ws, "069500", Tape("069500", 35_000, seed=3).trades([0, 2]))
    quote = eventually(lambda: read_quote(resources.redis, settings, "069500"))
    assert quote.product == "etf"
