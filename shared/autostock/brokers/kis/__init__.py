"""Korea Investment & Securities (KIS) Open API adapter: REST client, realtime stream, parsers.

`KisBroker` (broker.py) is the Broker; `KisStream` (stream.py) the realtime session; the pure
frame parsers and `KisParseError` live in frames.py.
"""

from autostock.brokers.kis.broker import KisBroker
from autostock.brokers.kis.frames import KisParseError, parse_book, parse_notices, parse_trades
from autostock.brokers.kis.stream import KisStream

__all__ = ["KisBroker", "KisParseError", "KisStream", "parse_book", "parse_notices", "parse_trades"]
