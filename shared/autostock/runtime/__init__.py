"""The local runtime: what the OpenFaaS gateway, its queue-worker and connectors do, on one
machine, for every function in `stack.yml` (`autostock dev`, used by `make run`).

Modules: `stack` (read and check stack.yml), `handlers` (import each function's handler),
`wsgi` (Flask glue shared with the template), `gateway` (the HTTP front), `calls` (async
calls on rq), `connectors` (cron and NATS), `extras` (other long-lived dev processes),
`supervisor` (the process tree), `commands` (CLI). Importing this package imports nothing heavy.
"""
