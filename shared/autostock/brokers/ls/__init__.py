"""LS Securities (ex-eBEST) OpenAPI adapter: `client` (HTTP, token, pacing), `parse` (payloads), `broker`."""
