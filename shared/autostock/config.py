"""Settings: read once, from the environment first, then OpenFaaS secret files.

The only module that touches `os.environ` or `/var/openfaas/secrets`. Everything else receives
a `Settings` object as an argument (12-factor III; OpenFaaS projects secrets as files).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autostock.errors import ConfigError

DEFAULT_SECRETS_DIR = "/var/openfaas/secrets"


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _setting(env: str, *, default: Any = dataclasses.MISSING, secret: bool = False) -> Any:
    meta = {"env": env, "secret": secret}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Every setting of the platform. Field metadata names its variable (or secret file)."""

    database_url: Secret = _setting("DATABASE_URL", secret=True)
    redis_url: Secret = _setting("REDIS_URL", secret=True)
    nats_url: str = _setting("NATS_URL")
    jwt_secret: Secret = _setting("JWT_SECRET", secret=True)
    # Comma-separated Fernet keys, newest first (MultiFernet encrypts with the first).
    encryption_keys: Secret = _setting("ENCRYPTION_KEYS", secret=True)
    # Proves a call comes from our own connectors (autostock.contract.require_internal). Empty
    # refuses every internal call; `autostock dev` makes one per run when none is set.
    internal_token: Secret = _setting("INTERNAL_TOKEN", default=Secret(""), secret=True)

    app_env: str = _setting("APP_ENV", default="dev")
    log_level: str = _setting("LOG_LEVEL", default="INFO")
    # Isolation: every Redis key and NATS subject/stream the platform makes starts with these.
    redis_prefix: str = _setting("REDIS_PREFIX", default="as:")
    nats_prefix: str = _setting("NATS_PREFIX", default="")
    public_url: str = _setting("PUBLIC_URL", default="http://127.0.0.1:8080")
    # docs/api/openapi.yaml; empty = the repository's copy next to the package (dev, tests).
    openapi_path: str = _setting("OPENAPI_PATH", default="")

    jwt_issuer: str = _setting("JWT_ISSUER", default="autostock")
    jwt_audience: str = _setting("JWT_AUDIENCE", default="autostock-api")
    access_token_ttl: int = _setting("ACCESS_TOKEN_TTL_SECONDS", default=900)
    refresh_token_ttl: int = _setting("REFRESH_TOKEN_TTL_SECONDS", default=30 * 86400)
    # bcrypt cost 10 (OWASP's floor): ~0.2 s per hash on a NAS-class core; 12 is ~4x that (bench_auth).
    bcrypt_rounds: int = _setting("BCRYPT_ROUNDS", default=10)
    # Requests per minute per user (authenticated) and per IP (login, register, refresh); 0 = off.
    rate_limit_user_per_minute: int = _setting("RATE_LIMIT_USER_PER_MINUTE", default=600)
    rate_limit_ip_per_minute: int = _setting("RATE_LIMIT_IP_PER_MINUTE", default=60)

    # Dev with the broker simulator (itself always open): order entry and the paper broker skip
    # the KRX session check, so the platform can be tried at any hour. Never set in production.
    market_always_open: bool = _setting("MARKET_ALWAYS_OPEN", default=False)
    paper_starting_cash: int = _setting("PAPER_STARTING_CASH", default=10_000_000)
    db_pool_max: int = _setting("DB_POOL_MAX", default=10)

    telegram_bot_token: Secret = _setting("TELEGRAM_BOT_TOKEN", default=Secret(""), secret=True)
    telegram_api_base: str = _setting("TELEGRAM_API_BASE", default="https://api.telegram.org")

    # Broker endpoints; `make run` and tests point these at `autostock.brokers.sim`.
    kis_real_url: str = _setting("KIS_REAL_URL", default="https://openapi.koreainvestment.com:9443")
    kis_paper_url: str = _setting("KIS_PAPER_URL", default="https://openapivts.koreainvestment.com:29443")
    kis_ws_url: str = _setting("KIS_WS_URL", default="ws://ops.koreainvestment.com:21000")
    kis_paper_ws_url: str = _setting("KIS_PAPER_WS_URL", default="ws://ops.koreainvestment.com:31000")
    ls_url: str = _setting("LS_URL", default="https://openapi.ls-sec.co.kr:8080")
    kiwoom_real_url: str = _setting("KIWOOM_REAL_URL", default="https://api.kiwoom.com")
    kiwoom_paper_url: str = _setting("KIWOOM_PAPER_URL", default="https://mockapi.kiwoom.com")

    # Market data: the platform's own KIS apps ("appkey:appsecret" pairs, comma-separated; the
    # first also serves REST quotes and daily charts, each one is a realtime session of ≤40 codes).
    kis_market_keys: Secret = _setting("KIS_MARKET_KEYS", default=Secret(""), secret=True)
    market_universe: str = _setting("MARKET_UNIVERSE", default="005930,000660,005380,035420,051910,035720,068270")
    quote_max_age: int = _setting("QUOTE_MAX_AGE_SECONDS", default=10)
    collector_port: int = _setting("COLLECTOR_PORT", default=9101)
    stream_host: str = _setting("STREAM_HOST", default="127.0.0.1")
    stream_port: int = _setting("STREAM_PORT", default=8765)
    # Stream connections one user may hold at once: a dashboard in a few tabs and a bot or two.
    # One member of a household must not take the server from the others.
    stream_max_connections_per_user: int = _setting("STREAM_MAX_CONNECTIONS_PER_USER", default=10)

    def redis_key(self, *parts: object) -> str:
        return self.redis_prefix + ":".join(str(p) for p in parts)

    def subject(self, *parts: object) -> str:
        return self.nats_prefix + ".".join(str(p) for p in parts)

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(raw: str, f: dataclasses.Field) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if f.metadata.get("secret"):
        return Secret(raw)
    if kind == "int":
        try:
            return int(raw)
        except ValueError as e:
            raise ConfigError(f"{f.metadata['env']} must be an integer, was {raw!r}") from e
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None,
    secrets_dir: str | Path | None = None,
) -> Settings:
    """Build the settings from `environ`, then from files named like the variable (lower or
    upper case) in `secrets_dir`. Fails naming every missing required setting at once."""
    environ = os.environ if environ is None else environ
    secrets_path = Path(secrets_dir or environ.get("SECRETS_DIR") or DEFAULT_SECRETS_DIR)
    values: dict[str, Any] = {}
    missing: list[str] = []
    for f in dataclasses.fields(Settings):
        name = f.metadata["env"]
        raw = environ.get(name)
        if raw is None:
            raw = _read_secret_file(secrets_path, name)
        if raw is None:
            if f.default is dataclasses.MISSING:
                missing.append(name)
            continue
        values[f.name] = _coerce(raw, f)
    if missing:
        raise ConfigError(
            "missing settings: " + ", ".join(missing)
            + f" (set them in the environment or as files in {secrets_path})"
        )
    return Settings(**values)


def _read_secret_file(directory: Path, name: str) -> str | None:
    dashed = name.lower().replace("_", "-")
    for candidate in ("autostock-" + dashed, dashed, name.lower(), name):
        path = directory / candidate
        if path.is_file():
            return path.read_text().rstrip("\n")
    return None


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, # comments) into a dict; missing file → {}."""
    result: dict[str, str] = {}
    p = Path(path)
    if not p.is_file():
        return result
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        result[key.strip()] = value.strip().strip('"').strip("'")
    return result


def variable_names() -> frozenset[str]:
    """The names of this process's environment variables (never their values): what the
    gateway's server takes back out of each request (`runtime.server`)."""
    return frozenset(os.environ)


def environment_with(env_file: str | Path | None) -> dict[str, str]:
    """The process environment over the values of an env file (the environment wins)."""
    merged = read_env_file(env_file) if env_file else {}
    merged.update(os.environ)
    return merged
