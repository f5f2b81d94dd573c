"""Kiwoom REST API adapter: `client` (HTTP, token, pacing), `parse` (payloads), `broker`."""
