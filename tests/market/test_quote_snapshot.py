"""quote-snapshot: Redis first with the quote's age; misses go to the KIS simulator once."""

import datetime as dt
import threading
import uuid

import pytest

from autostock.config import Secret
from autostock.market import platform, snapshot
from autostock.market.calendar import SEOUL
from autostock.market.quotes import StoredQuote, write_quote
from tests.helpers import invoke

PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"


@pytest.fixture
def broker(market_settings, resources):
    b = platform.platform_broker(market_settings, resources.redis)
    platform.install(b)
    yield b
    platform.install(None)
    b.close()


def _price_calls(sim, code):
    return sum(1 for r in sim.requests if r.path == PRICE_PATH and code in str(r.query))


def test_many_callers_missing_one_code_cause_one_broker_call(broker, kis_rest, exchange, user_factory):
    token = user_factory()["token"]
    # Import the handler before the threads do (tests.helpers.load_handler is not thread-safe).
    assert invoke("quote-snapshot", "GET", "/api/v1/market/quotes", query={"codes": "005930"}).status == 401
    replies = []

    def call():
        replies.append(invoke("quote-snapshot", "GET", "/api/v1/market/quotes", token=token,
                              query={"codes": "005930"}))

    threads = [threading.Thread(target=call) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 200 for r in replies)
    assert _price_calls(kis_rest, "005930") == 1
    quotes = [r.json["quotes"][0] for r in replies]
    assert {q["source"] for q in quotes} == {"broker"}
    assert {q["price"] for q in quotes} == {exchange.instrument("005930").last}


def test_fresh_quotes_come_from_redis_with_their_age_and_stale_ones_are_refreshed(
        broker, kis_rest, settings, resources, user_factory):
    token = user_factory()["token"]
    now = dt.datetime.now(SEOUL)
    write_quote(resources.redis, settings, StoredQuote("005380", 181_000, 180_900, 181_000, 5000, 180_000,
                                                        now - dt.timedelta(seconds=1)))
    write_quote(resources.redis, settings, StoredQuote("000660", 1_000, at=now - dt.timedelta(minutes=5)))
    r = invoke("quote-snapshot", "GET", "/api/v1/market/quotes", token=token,
               query={"codes": "005380,000660,123456"})
    assert r.status == 200
    by_code = {q["code"]: q for q in r.json["quotes"]}
    fresh = by_code["005380"]
    assert fresh["source"] == "stream" and fresh["price"] == 181_000 and fresh["change"] == 1_000
    assert 900 <= fresh["age_ms"] < 10_000
    assert by_code["000660"]["source"] == "broker" and by_code["000660"]["price"] != 1_000
    assert r.json["missing"] == ["123456"]          # unknown to the broker, never quoted
    assert _price_calls(kis_rest, "005380") == 0


def test_bad_requests_are_refused(resources, user_factory):
    token = user_factory()["token"]
    too_many = ",".join(f"{i:06d}" for i in range(51))
    for query, code in (({}, "missing_codes"), ({"codes": too_many}, "too_many_codes"),
                        ({"codes": "005930,DROP TABLE"}, "invalid_code")):
        r = invoke("quote-snapshot", "GET", "/api/v1/market/quotes", token=token, query=query)
        assert (r.status, r.error_code) == (400, code)
    assert invoke("quote-snapshot", "GET", "/api/v1/market/quotes", query={"codes": "005930"}).status == 401
    assert snapshot.parse_codes(" 005930,005930 ,000660") == ["005930", "000660"]


def test_no_market_broker_configured_lists_the_code_as_missing_not_a_500(resources):
    settings = resources.settings.with_overrides(kis_market_keys=Secret(""))
    snaps = snapshot.Snapshots(settings, resources.redis, lambda: platform.platform_broker(settings, resources.redis))
    code = "9" + uuid.uuid4().hex[:5].upper()
    answer = snaps.get([code])
    assert answer["quotes"] == [] and answer["missing"] == [code]
