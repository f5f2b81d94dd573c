"""Korea Investment & Securities (KIS) Open API adapter: REST client, realtime stream, parsers."""
