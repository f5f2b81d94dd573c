"""Kiwoom REST API adapter: `KiwoomBroker` (broker.py) over `KiwoomClient` (client.py: JSON
au10001 token, `api-id` routing, `return_code` envelopes); payload conversions in parse.py.
Realtime (websocket types 00/04, 0B/0D) is not implemented."""

from autostock.brokers.kiwoom.broker import KiwoomBroker
from autostock.brokers.kiwoom.client import KiwoomClient

__all__ = ["KiwoomBroker", "KiwoomClient"]
