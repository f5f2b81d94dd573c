"""LS Securities (ex-eBEST) OpenAPI adapter: `LsBroker` (broker.py) over `LsClient` (client.py:
form-urlencoded token, `tr_cd` routing, per-TR pacing); payload conversions in parse.py.
Realtime (SC0-SC4, S3_) is not implemented."""

from autostock.brokers.ls.broker import LsBroker
from autostock.brokers.ls.client import TR_RATES, LsClient

__all__ = ["TR_RATES", "LsBroker", "LsClient"]
