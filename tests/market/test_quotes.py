"""The quote (Redis) and tick (NATS) wire formats shared by the collector and the paper broker."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autostock.errors import ValidationError
from autostock.market.quotes import (SEOUL, StoredQuote, Tick, parse_quote, parse_tick, read_quote, tick_subject,
                                     write_quote)

AT = dt.datetime(2025, 6, 16, 10, 0, 0, 123000, tzinfo=SEOUL)


def test_quote_round_trips_through_redis(resources, settings):
    quote = StoredQuote(code="005930", price=70_000, bid=69_900, ask=70_000, volume=12_345,
                        prev_close=69_500, at=AT, market="KOSPI")
    write_quote(resources.redis, settings, quote)
    raw = json.loads(resources.redis.get(settings.redis_key("quote", "005930")))
    assert raw == {"code": "005930", "price": 70_000, "bid": 69_900, "ask": 70_000, "volume": 12_345,
                   "prev_close": 69_500, "at": "2025-06-16T10:00:00.123000+09:00", "market": "KOSPI",
                   "product": "stock"}
    assert read_quote(resources.redis, settings, "005930") == quote
    assert read_quote(resources.redis, settings, "000000") is None


def test_minimal_quote_gets_defaults_and_limits():
    quote = parse_quote('{"code": "035720", "price": 50000, "prev_close": 50000}')
    assert (quote.market, quote.product, quote.bid, quote.at) == ("KOSPI", "stock", 0, None)
    domain = quote.to_quote()
    assert (domain.upper_limit, domain.lower_limit) == (65_000, 35_000)
    assert parse_quote({"code": "X1", "price": 5}).limits() == (0, 0)


def test_tick_round_trips_and_keys_on_seq():
    tick = Tick("005930", 70_000, 10, AT, "42")
    assert parse_tick(tick.to_json()) == tick
    assert tick.key == "42"
    bare = parse_tick({"code": "005930", "price": 70_000, "volume": 0, "at": AT.isoformat()})
    assert bare.key == f"{AT.isoformat()}|70000|0"


def test_tick_subject_carries_the_prefix(settings):
    assert tick_subject(settings, "005930") == settings.nats_prefix + "ticks.005930"


@pytest.mark.parametrize("payload", [
    b"not json", b"[1, 2]", {"code": "005930", "price": 0, "volume": 1, "at": AT.isoformat()},
    {"code": "005930", "price": 1.5, "volume": 1, "at": AT.isoformat()},
    {"code": "005930", "price": True, "volume": 1, "at": AT.isoformat()},
    {"code": "../etc", "price": 1, "volume": 1, "at": AT.isoformat()},
    {"code": "005930", "price": 1, "volume": 1, "at": "2025-06-16T10:00:00"},   # no offset
    {"code": "005930", "price": 1, "volume": 1},
])
def test_malformed_ticks_are_validation_errors(payload):
    with pytest.raises(ValidationError) as e:
        parse_tick(payload)
    assert e.value.code == "bad_market_data"


def test_unknown_market_is_rejected():
    with pytest.raises(ValidationError):
        parse_quote({"code": "005930", "price": 1, "market": "NYSE"})


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.dictionaries(st.sampled_from(["code", "price", "volume", "at", "seq"]),
                                 st.one_of(st.integers(), st.text(max_size=30), st.none(), st.floats()))))
def test_parsers_raise_only_validation_errors(data):
    for parse in (parse_tick, parse_quote):
        try:
            parse(data)
        except ValidationError:
            pass
