"""`autostock` command line: the operator's and developer's entry points."""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from autostock.config import environment_with, load_settings
from autostock.errors import ConfigError
from autostock.logs import configure_logging


def _settings(args: argparse.Namespace):  # noqa: ANN202 - Settings
    return load_settings(environment_with(getattr(args, "env_file", None)))


def cmd_migrate(args: argparse.Namespace) -> int:
    from autostock.db.migrate import migrate
    applied = migrate(_settings(args).database_url.reveal())
    print(f"applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


def generated_env() -> dict[str, str]:
    """Fresh secrets for a new install (never printed)."""
    from cryptography.fernet import Fernet
    return {
        "JWT_SECRET": base64.urlsafe_b64encode(secrets.token_bytes(48)).decode(),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "INTERNAL_TOKEN": secrets.token_urlsafe(32),
    }


def cmd_init_env(args: argparse.Namespace) -> int:
    """Write `.env` with generated secrets the first time; never overwrite it."""
    path = Path(args.path)
    if path.exists():
        print(f"{path} exists; left as it is")
        return 0
    values = {
        "APP_ENV": "dev",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/autostock",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "NATS_URL": "nats://127.0.0.1:4222",
        **generated_env(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Written once by `make run`; edit freely, it is never overwritten.\n")
        for key, value in values.items():
            f.write(f"{key}={value}\n")
    print(f"wrote {path} with generated secrets")
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Safe while running: old ciphertexts stay readable until every row is rewritten."""
    from autostock.accounts import rotate_keys
    from autostock.resources import Resources
    resources = Resources.open(_settings(args))
    try:
        count = rotate_keys(resources.pool, resources.settings)
    finally:
        resources.close()
    print(f"re-encrypted {count} row(s) under the newest key; older keys may now be removed")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from autostock.auth import users
    from autostock.resources import Resources
    password = sys.stdin.readline().rstrip("\n")
    resources = Resources.open(_settings(args))
    try:
        user = users.create_admin(resources, email=args.email, username=args.username, password=password)
    finally:
        resources.close()
    print(f"admin {user['username']} ({user['id']}) is ready")
    return 0


def _create_admin_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--username", required=True)
    p.add_argument("--email", required=True)


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int], Callable[[argparse.ArgumentParser], None]]] = {
    "migrate": ("apply pending database migrations", cmd_migrate, lambda p: None),
    "init-env": ("write .env with generated secrets (only if absent)", cmd_init_env,
                 lambda p: p.add_argument("--path", default=".env")),
    # ---- runtime: dev, services, build-context ----
    **__import__("autostock.runtime.commands", fromlist=["COMMANDS"]).COMMANDS,


    # ---- identity: rotate-keys, create-admin ----
    "rotate-keys": ("re-encrypt every stored secret under the newest ENCRYPTION_KEYS key", cmd_rotate_keys,
                    lambda p: None),
    "create-admin": ("make (or promote) an admin user; the password is read from stdin", cmd_create_admin,
                     _create_admin_arguments),


    # ---- market data: import-bars, collector, stream ----
    # (autostock.market.commands holds them; imported on use so `autostock migrate` stays light)
    "import-bars": ("import daily bars (CSV, Kiwoom export, SQLite, --from-broker) and verify them",
                    lambda a: __import__("autostock.market.commands", fromlist=["x"]).cmd_import_bars(a),
                    lambda p: __import__("autostock.market.commands", fromlist=["x"]).configure_import_bars(p)),
    "seed-demo": ("load the shipped KRX listing and demo daily bars (idempotent)",
                  lambda a: __import__("autostock.market.commands", fromlist=["x"]).cmd_seed_demo(a),
                  lambda p: p.add_argument("--json", action="store_true")),
    "market-maintain": ("create market-data partitions ahead and apply tick retention",
                        lambda a: __import__("autostock.market.commands", fromlist=["x"]).cmd_maintain(a),
                        lambda p: None),
    "collector": ("run the tick collector (KIS realtime → Redis, NATS, PostgreSQL) until stopped",
                  lambda a: __import__("autostock.market.commands", fromlist=["x"]).cmd_collector(a),
                  lambda p: __import__("autostock.market.commands", fromlist=["x"]).configure_collector(p)),
    "stream": ("serve the /ws/market websocket stream until stopped",
               lambda a: __import__("autostock.market.commands", fromlist=["x"]).cmd_stream(a),
               lambda p: __import__("autostock.market.commands", fromlist=["x"]).configure_stream(p)),


    # ---- brokers: sim, paper-matcher ----
    "paper-matcher": ("fill resting paper orders from NATS ticks until stopped (SIGTERM stops it)",
                      lambda a: __import__("autostock.brokers.paper.matcher", fromlist=["serve"]).serve(_settings(a)),
                      lambda p: None),
    "sim": ("run a broker's simulators standalone (REST + websocket), e.g. `autostock sim kis`",
            lambda a: __import__("autostock.brokers.sim.standalone", fromlist=["run"]).run(a),
            lambda p: __import__("autostock.brokers.sim.standalone", fromlist=["configure"]).configure(p)),


    # ---- backtest: worker ----
    "worker": ("run an rq worker for backtests and optimisations (queue: <REDIS_PREFIX>backtest)",
               lambda args: __import__("autostock.jobs", fromlist=["work"]).work(_settings(args), burst=args.burst),
               lambda p: p.add_argument("--burst", action="store_true", help="stop when the queue is empty")),


}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autostock")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _, configure) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--env-file", default=None, help="read settings from this file too")
        configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a setting it cannot start with is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    configure_logging(environment_with(args.env_file).get("LOG_LEVEL", "INFO"))
    try:
        return COMMANDS[args.command][1](args)
    except ConfigError as e:
        print(f"autostock {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
