"""The wire formats of live market data: the latest quote in Redis and a tick on NATS.

Written by the tick collector, read by the paper broker, the quote-snapshot function and the
paper matcher. One definition here so that writer and readers cannot drift apart.

Latest quote: Redis string key `settings.redis_key("quote", code)`, JSON object
    {"code": "005930", "price": 70000, "bid": 69900, "ask": 70000, "volume": 1234567,
     "prev_close": 69500, "at": "2026-05-29T10:15:00.123+09:00", "market": "KOSPI"}
  price = last trade (KRW), bid/ask = best prices (0 when no book), volume = the day's
  cumulative shares, prev_close = the base of the daily price limit, at = ISO-8601 with offset,
  market = KOSPI | KOSDAQ | KONEX (optional, KOSPI when absent; decides the tick table and tax),
  product = stock | etf | etn | elw (optional, stock when absent).

Tick: NATS subject `settings.subject("ticks", code)`, JSON object
    {"code": "005930", "price": 70000, "volume": 10, "at": "2026-05-29T10:15:00.123+09:00",
     "seq": "optional id unique per trade"}
  volume = shares traded in THIS trade (not cumulative). `seq` is optional; when present it
  identifies the trade, so a redelivered tick is recognised (the paper matcher keys fills on it).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import redis

from autostock.brokers.base import Quote
from autostock.config import Settings
from autostock.errors import ValidationError
from autostock.market import rules

SEOUL = dt.timezone(dt.timedelta(hours=9), "KST")
MARKETS = ("KOSPI", "KOSDAQ", "KONEX")
PRODUCTS = ("stock", "etf", "etn", "elw")


@dataclass(frozen=True)
class Tick:
    """One trade: `volume` shares at `price` KRW."""

    code: str
    price: int
    volume: int
    at: dt.datetime
    seq: str = ""

    @property
    def key(self) -> str:
        """Identifies this trade (for idempotent processing of redelivered ticks)."""
        return self.seq or f"{self.at.isoformat()}|{self.price}|{self.volume}"

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"code": self.code, "price": self.price, "volume": self.volume,
                                "at": self.at.isoformat()}
        if self.seq:
            body["seq"] = self.seq
        return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class StoredQuote:
    """The latest quote of one code as kept in Redis."""

    code: str
    price: int
    bid: int = 0
    ask: int = 0
    volume: int = 0
    prev_close: int = 0
    at: dt.datetime | None = None
    market: str = "KOSPI"
    product: str = "stock"

    def to_json(self) -> str:
        body = asdict(self)
        body["at"] = self.at.isoformat() if self.at else None
        return json.dumps(body, separators=(",", ":"))

    def limits(self) -> tuple[int, int]:
        """(lower, upper) daily price limits from the previous close; (0, 0) when unknown."""
        if self.prev_close <= 0:
            return 0, 0
        on = self.at.astimezone(SEOUL).date() if self.at else None
        return rules.price_limits(self.prev_close, self.market, on=on, product=self.product)

    def to_quote(self) -> Quote:
        lower, upper = self.limits()
        return Quote(symbol=self.code, price=self.price, bid=self.bid, ask=self.ask,
                     volume=self.volume, previous_close=self.prev_close,
                     upper_limit=upper, lower_limit=lower, at=self.at)


def _int(body: dict[str, Any], name: str, *, required: bool = False, minimum: int = 0) -> int:
    value = body.get(name)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an integer ≥ {minimum}, was {value!r}",
                              code="bad_market_data", details={"field": name})
    return value


def _time(value: Any, *, required: bool) -> dt.datetime | None:
    if value is None and not required:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"at must be an ISO-8601 time, was {value!r}", code="bad_market_data",
                              details={"field": "at"}) from e
    if parsed.tzinfo is None:
        raise ValidationError("at must carry a UTC offset", code="bad_market_data", details={"field": "at"})
    return parsed


def _code(body: dict[str, Any]) -> str:
    code = body.get("code")
    if not isinstance(code, str) or not (1 <= len(code) <= 12) or not code.isalnum():
        raise ValidationError(f"code must be a short stock code, was {code!r}", code="bad_market_data",
                              details={"field": "code"})
    return code


def _object(data: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    try:
        body = json.loads(data)
    except (TypeError, ValueError, UnicodeDecodeError) as e:
        raise ValidationError("market data must be a JSON object", code="bad_market_data") from e
    if not isinstance(body, dict):
        raise ValidationError("market data must be a JSON object", code="bad_market_data")
    return body


def parse_tick(data: bytes | str | dict[str, Any]) -> Tick:
    """A tick from its NATS payload; `ValidationError` (code bad_market_data) when malformed."""
    body = _object(data)
    seq = body.get("seq") or ""
    return Tick(code=_code(body), price=_int(body, "price", required=True, minimum=1),
                volume=_int(body, "volume", required=True, minimum=0),
                at=_time(body.get("at"), required=True), seq=str(seq))  # type: ignore[arg-type]


def parse_quote(data: bytes | str | dict[str, Any]) -> StoredQuote:
    """A stored quote from its JSON; `ValidationError` (code bad_market_data) when malformed."""
    body = _object(data)
    market = str(body.get("market") or "KOSPI").upper()
    product = str(body.get("product") or "stock").lower()
    if market not in MARKETS or product not in PRODUCTS:
        raise ValidationError(f"unknown market/product {market}/{product}", code="bad_market_data")
    return StoredQuote(code=_code(body), price=_int(body, "price", required=True, minimum=1),
                       bid=_int(body, "bid"), ask=_int(body, "ask"), volume=_int(body, "volume"),
                       prev_close=_int(body, "prev_close"), at=_time(body.get("at"), required=False),
                       market=market, product=product)


def write_quote(client: redis.Redis, settings: Settings, quote: StoredQuote) -> None:
    """Store `quote` as the latest for its code."""
    client.set(settings.redis_key("quote", quote.code), quote.to_json())


def read_quote(client: redis.Redis, settings: Settings, code: str) -> StoredQuote | None:
    """The latest quote of `code`, or None when the collector has not written one."""
    raw = client.get(settings.redis_key("quote", code))
    return None if raw is None else parse_quote(raw)


def tick_subject(settings: Settings, code: str) -> str:
    """The full NATS subject (with the deployment prefix) ticks of `code` go to."""
    return settings.subject("ticks", code)
