"""The processes of `autostock dev`: `python -m autostock.runtime gateway|connectors|worker`.

Each reads its settings from the environment the supervisor hands it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autostock.config import environment_with, load_settings
from autostock.logs import configure_logging
from autostock.runtime import GATEWAY_THREADS, gateway_workers


def _stack(args: argparse.Namespace):  # noqa: ANN202 - Stack
    from autostock.runtime import stack
    return stack.load(args.stack, environment_with(None), args.root)


def gateway(args: argparse.Namespace) -> None:
    from autostock.runtime import server
    from autostock.runtime.gateway import create_app
    from autostock.runtime.handlers import load_all
    st = _stack(args)
    app = create_app(st, load_all(st), args.gateway_url)
    server.serve(app, args.bind, args.workers, args.threads)


def connectors(args: argparse.Namespace) -> None:
    from autostock.runtime.connectors import serve
    serve(_stack(args), load_settings(), args.gateway_url)


def worker(args: argparse.Namespace) -> None:
    from autostock.runtime.calls import work
    work(load_settings(), extra_queues=tuple(args.queue or ()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autostock.runtime")
    sub = parser.add_subparsers(dest="role", required=True)
    for role in ("gateway", "connectors"):
        p = sub.add_parser(role)
        p.add_argument("--stack", default="stack.yml")
        p.add_argument("--root", default=None)
        p.add_argument("--gateway-url", default="http://127.0.0.1:8080")
    g = sub.choices["gateway"]
    g.add_argument("--bind", default="127.0.0.1:8080")
    g.add_argument("--workers", type=int, default=gateway_workers())
    g.add_argument("--threads", type=int, default=GATEWAY_THREADS)
    w = sub.add_parser("worker")
    w.add_argument("--queue", action="append", help="another (prefixed) rq queue to work on")
    args = parser.parse_args(argv)
    configure_logging(load_settings().log_level)
    {"gateway": gateway, "connectors": connectors, "worker": worker}[args.role](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
