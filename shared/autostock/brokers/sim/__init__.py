"""Protocol-faithful local simulators of each broker, for tests and `make run`.

Shared by every broker: `exchange` (accounts, book matching with partial fills, KRX rules),
`records` (its plain data), `feed` (manual clock, KRX replay / synthetic prices, fault plans),
`http` (threaded JSON server recording every request, connection drops, token buckets) and
`standalone` (`autostock sim <broker>`). Per broker: `kis` + `kis_trading` (REST), `kis_ws`
(realtime websocket).
"""
