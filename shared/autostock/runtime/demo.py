"""Start-up seeds of `autostock dev`: the demo market data and, in dev, a demo login.

Both are idempotent, so every `make run` may call them. The demo user exists only when
APP_ENV=dev (never in production); its password is written once to `.data/demo-password`
(mode 0600) and printed on the console, never logged.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from autostock.config import Settings
from autostock.errors import Conflict
from autostock.resources import Resources
from autostock.runtime.extras import register_seed

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@autostock.local"
PASSWORD_FILE = Path(".data") / "demo-password"  # beside the servers `make run` starts


def seed_market(settings: Settings) -> str | None:
    from autostock.market.commands import seed_demo
    res = Resources.open(settings)
    try:
        report = seed_demo(res)
    finally:
        res.close()
    return f"demo market data: {report['rows_valid']} daily bars of {len(report['symbols'])} stocks"


def _demo_password(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = "Kospi-" + secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def seed_user(settings: Settings) -> str | None:
    if settings.app_env != "dev":
        return None
    from autostock.auth import users
    password = _demo_password(PASSWORD_FILE)
    res = Resources.open(settings)
    try:
        users.register(res, email=DEMO_EMAIL, username=DEMO_USERNAME, password=password, ip="127.0.0.1")
    except Conflict:
        pass  # seeded by an earlier run; the password file still holds its password
    finally:
        res.close()
    return f"demo login: {DEMO_USERNAME} / {password}  (POST /api/v1/auth/login; kept in {PASSWORD_FILE})"


register_seed(seed_market)
register_seed(seed_user)
