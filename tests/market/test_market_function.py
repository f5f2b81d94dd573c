"""The market function: symbol search, charts (day/week/month/minute), indicators."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from autostock import db, indicators
from autostock.market import commands, storage
from autostock.market.calendar import SEOUL
from tests.helpers import invoke
from tests.market.conftest import KRX


@pytest.fixture(scope="module")
def demo(resources, listed):
    return commands.seed_demo(resources)


@pytest.fixture
def token(user_factory):
    return user_factory()["token"]


def test_search_by_code_korean_and_english_name(demo, token):
    r = invoke("market", "GET", "/api/v1/market/stocks", token=token, query={"q": "005930"})
    assert r.status == 200 and r.json["stocks"][0]["code"] == "005930"
    assert r.json["stocks"][0]["name_ko"] == "삼성전자" and r.json["stocks"][0]["name_en"] == "Samsung Electronics"
    ko = invoke("market", "GET", "/api/v1/market/stocks", token=token, query={"q": "카카오"})
    assert "035720" in [s["code"] for s in ko.json["stocks"]]
    en = invoke("market", "GET", "/api/v1/market/stocks", token=token, query={"q": "hynix"})
    assert [s["code"] for s in en.json["stocks"]] == ["000660"]
    one = invoke("market", "GET", "/api/v1/market/stocks/068270", token=token)
    assert one.json["name_ko"] == "셀트리온" and one.json["isin"] == "KR7068270008"
    assert invoke("market", "GET", "/api/v1/market/stocks", token=token, query={"q": ""}).status == 400
    assert invoke("market", "GET", "/api/v1/market/stocks/999999", token=token).status == 404
    assert invoke("market", "GET", "/api/v1/market/stocks", query={"q": "0"}).status == 401
    limited = invoke("market", "GET", "/api/v1/market/stocks", token=token, query={"q": "00", "limit": "3"})
    assert len(limited.json["stocks"]) == 3


def test_daily_weekly_monthly_charts_match_the_krx_file(demo, token):
    q = {"symbol": "005930", "start": "2024-01-01", "end": "2024-03-31"}
    daily = invoke("market", "GET", "/api/v1/market/charts", token=token, query={**q, "interval": "1d"}).json
    src = pd.read_csv(KRX / "daily" / "005930.csv",
                      parse_dates=["date"]).set_index("date").loc["2024-01-01":"2024-03-31"]
    assert daily["count"] == len(src) and daily["bars"][0]["t"] == "2024-01-02"
    assert [b["close"] for b in daily["bars"]] == src["close"].tolist()
    monthly = invoke("market", "GET", "/api/v1/market/charts", token=token, query={**q, "interval": "1mo"}).json
    jan = src.loc["2024-01"]
    assert monthly["count"] == 3 and monthly["bars"][0] == {
        "t": "2024-01-02", "open": int(jan.open.iloc[0]), "high": int(jan.high.max()), "low": int(jan.low.min()),
        "close": int(jan.close.iloc[-1]), "volume": int(jan.volume.sum())}
    weekly = invoke("market", "GET", "/api/v1/market/charts", token=token, query={**q, "interval": "1w"}).json
    assert sum(b["volume"] for b in weekly["bars"]) == int(src.volume.sum())
    assert all(dt.date.fromisoformat(b["t"]).weekday() < 5 for b in weekly["bars"])
    kospi = invoke("market", "GET", "/api/v1/market/charts", token=token,
                   query={"symbol": "KOSPI", "start": "2024-08-05", "end": "2024-08-05"}).json
    assert kospi["price_scale"] == 100 and kospi["bars"][0]["close"] == 244155


def test_minute_chart_and_bad_requests(resources, demo, token):
    bars = [storage.MinuteBar("005930", dt.datetime(2025, 6, 13, 9, m, tzinfo=SEOUL), 100, 110, 90, 105, 10, 3)
            for m in range(5)]
    with db.service(resources.pool) as conn:
        storage.upsert_minute_bars(conn, bars)
    r = invoke("market", "GET", "/api/v1/market/charts", token=token,
               query={"symbol": "005930", "interval": "1m", "start": "2025-06-13", "end": "2025-06-13"})
    assert r.json["count"] == 5 and r.json["bars"][0]["t"] == "2025-06-13T09:00:00+09:00"
    for query, code in (({"symbol": "005930", "interval": "5y"}, "invalid_interval"),
                        ({"symbol": "005930", "start": "2024-13-01"}, "invalid_date"),
                        ({"symbol": "005930", "start": "2024-02-01", "end": "2024-01-01"}, "invalid_range"),
                        ({}, "missing_symbol")):
        bad = invoke("market", "GET", "/api/v1/market/charts", token=token, query=query)
        assert (bad.status, bad.error_code) == (400, code)


def test_indicators_are_the_backtest_module_values(demo, token):
    q = {"symbol": "000660", "start": "2023-01-01", "end": "2023-12-31",
         "indicators": "sma:20,ema:10,rsi,macd,bollinger:20:2,atr:14"}
    r = invoke("market", "GET", "/api/v1/market/indicators", token=token, query=q)
    assert r.status == 200
    body = r.json
    src = pd.read_csv(KRX / "daily" / "000660.csv", parse_dates=["date"]).set_index("date").loc["2023"]
    assert len(body["times"]) == len(src)
    expected = indicators.sma(src.close.astype(float), 20).to_numpy()
    got = np.array([np.nan if v is None else v for v in body["indicators"]["sma:20"]["sma"]])
    np.testing.assert_allclose(got, expected, rtol=1e-9, equal_nan=True)
    assert set(body["indicators"]) == {"sma:20", "ema:10", "rsi:14", "macd:12:26:9", "bollinger:20:2", "atr:14"}
    assert set(body["indicators"]["macd:12:26:9"]) == {"macd", "signal", "histogram"}
    assert body["indicators"]["rsi:14"]["rsi"][0] is None and 0 <= body["indicators"]["rsi:14"]["rsi"][-1] <= 100
    for spec, code in (("nope", "unknown_indicator"), ("sma:x", "invalid_indicator"), ("", "invalid_indicator"),
                       ("sma:1:2", "invalid_indicator"), ("sma:0", "invalid_indicator")):
        bad = invoke("market", "GET", "/api/v1/market/indicators", token=token, query={**q, "indicators": spec})
        assert (bad.status, bad.error_code) == (400, code)
