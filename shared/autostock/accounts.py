"""Broker accounts: a user's connections to KIS, LS, Kiwoom or the platform's paper broker.

Account numbers, app keys, app secrets and account passwords are stored as MultiFernet
ciphertext (`autostock.crypto`); only `get_credentials` decrypts them, for order routing and
connection tests. Every view this module returns is masked. Deletion is soft (`deleted_at`),
so orders and fills keep pointing at a row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from autostock import audit, crypto, db
from autostock.brokers.base import BrokerCredentials
from autostock.config import Settings
from autostock.errors import BrokerUnavailable, NotFound, ValidationError
from autostock.resources import Resources

BROKERS = ("kis", "ls", "kiwoom", "paper")
PRODUCTS = ("stock", "etf", "etn", "elw", "reit")
SECRET_FIELDS = ("account_number", "app_key", "app_secret", "account_password")

# The columns a caller may see; ciphertext columns are never selected for a view.
_VIEW = ("id, user_id, broker, label, account_number_masked, is_paper, is_active, is_default,"
         " max_position_size, max_daily_trades, allowed_products, starting_cash, created_at, updated_at")
_ACCOUNT_NUMBER = re.compile(r"^[0-9][0-9-]{5,23}$")

# Connection tests by broker: the broker adapters register theirs here (seam for `brokers/`).
# A tester logs in with the credentials and raises AuthError / BrokerUnavailable on failure.
ConnectionTester = Callable[[Settings, str, BrokerCredentials], None]
CONNECTION_TESTERS: dict[str, ConnectionTester] = {"paper": lambda settings, broker, creds: None}


def mask_account_number(number: str) -> str:
    """Every digit but the last four becomes `*`; separators stay (`5012****-01` style)."""
    digits = sum(c.isdigit() for c in number)
    out, seen = [], 0
    for c in number:
        if c.isdigit():
            seen += 1
            out.append(c if seen > digits - 4 else "*")
        else:
            out.append(c)
    return "".join(out)


def _check_limits(max_position_size: int | None, max_daily_trades: int | None,
                  allowed_products: list[str] | None) -> None:
    problems = {}
    if max_position_size is not None and max_position_size <= 0:
        problems["max_position_size"] = "must be a positive amount of KRW"
    if max_daily_trades is not None and max_daily_trades < 0:
        problems["max_daily_trades"] = "must be zero or more"
    if allowed_products is not None:
        unknown = [p for p in allowed_products if p not in PRODUCTS]
        if unknown or not allowed_products or not all(isinstance(p, str) for p in allowed_products):
            problems["allowed_products"] = f"must be a non-empty list of {', '.join(PRODUCTS)}"
    if problems:
        first = next(iter(problems))
        raise ValidationError(f"{first} {problems[first]}", details={"fields": problems})


def _check_new(broker: str, account_number: str, secrets: dict[str, str]) -> None:
    if broker not in BROKERS:
        raise ValidationError(f"broker must be one of {', '.join(BROKERS)}",
                              details={"fields": {"broker": "unknown broker"}})
    if broker == "paper":
        return
    if not _ACCOUNT_NUMBER.match(account_number or ""):
        raise ValidationError("account_number must be 6-24 digits (dashes allowed)",
                              details={"fields": {"account_number": "malformed"}})
    missing = [name for name in ("app_key", "app_secret") if not secrets.get(name)]
    if missing:
        raise ValidationError(f"{missing[0]} is required for {broker}",
                              details={"fields": {m: "is required" for m in missing}})


def create_account(resources: Resources, user_id: str, *, broker: str, account_number: str = "",
                   app_key: str = "", app_secret: str = "", account_password: str = "",
                   is_paper: bool = False, label: str = "", max_position_size: int | None = None,
                   max_daily_trades: int | None = None, allowed_products: list[str] | None = None,
                   starting_cash: int | None = None, ip: str | None = None) -> dict[str, Any]:
    """Add a broker account (secrets encrypted); returns its masked view."""
    _check_new(broker, account_number, {"app_key": app_key, "app_secret": app_secret})
    _check_limits(max_position_size, max_daily_trades, allowed_products)
    if broker == "paper":
        cash = resources.settings.paper_starting_cash if starting_cash is None else starting_cash
        if cash < 0:
            raise ValidationError("starting_cash must be zero or more")
        with db.tenant(resources.pool, user_id) as conn:
            return _insert_paper(conn, resources.settings, user_id, cash, label=label,
                                 max_position_size=max_position_size, max_daily_trades=max_daily_trades,
                                 allowed_products=allowed_products, ip=ip)
    keys = resources.settings.encryption_keys
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(
            "INSERT INTO broker_accounts (user_id, broker, label, account_number, account_number_masked,"
            " app_key, app_secret, account_password, is_paper, max_position_size, max_daily_trades,"
            " allowed_products) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s::text[], '{stock}'))"
            f" RETURNING {_VIEW}",
            (user_id, broker, label, crypto.encrypt(keys, account_number), mask_account_number(account_number),
             crypto.encrypt(keys, app_key), crypto.encrypt(keys, app_secret),
             crypto.encrypt(keys, account_password) if account_password else "", bool(is_paper),
             max_position_size, max_daily_trades, allowed_products)).fetchone()
        audit.record(conn, audit.Event.ACCOUNT_CREATED, user_id, ip=ip,
                     details={"account_id": str(row["id"]), "broker": broker, "paper": bool(is_paper)})
    return _view(row)


def _insert_paper(conn: psycopg.Connection, settings: Settings, user_id: str, cash: int, *,
                  label: str = "", ip: str | None = None, **limits: Any) -> dict[str, Any]:
    has_default = conn.execute(
        "SELECT 1 FROM broker_accounts WHERE user_id = %s AND is_default AND deleted_at IS NULL",
        (user_id,)).fetchone()
    number = "PAPER-" + user_id.replace("-", "")[:8].upper()
    row = conn.execute(
        "INSERT INTO broker_accounts (user_id, broker, label, account_number, account_number_masked,"
        " is_paper, is_default, starting_cash, max_position_size, max_daily_trades, allowed_products)"
        " VALUES (%s, 'paper', %s, %s, %s, true, %s, %s, %s, %s, coalesce(%s::text[], '{stock}'))"
        f" RETURNING {_VIEW}",
        (user_id, label or "Paper", crypto.encrypt(settings.encryption_keys, number), number,
         not has_default, cash, limits.get("max_position_size"), limits.get("max_daily_trades"),
         limits.get("allowed_products"))).fetchone()
    audit.record(conn, audit.Event.ACCOUNT_CREATED, user_id, ip=ip,
                 details={"account_id": str(row["id"]), "broker": "paper", "paper": True})
    return _view(row)


def create_paper_account(conn: psycopg.Connection, settings: Settings, user_id: str) -> dict[str, Any]:
    """The paper account every new user gets, inside the caller's (registration) transaction."""
    return _insert_paper(conn, settings, user_id, settings.paper_starting_cash)


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["id"] = str(out["id"])
    out["user_id"] = str(out["user_id"])
    out["allowed_products"] = list(out.get("allowed_products") or [])
    for key in ("created_at", "updated_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    return out


def list_accounts(resources: Resources, user_id: str, *, include_inactive: bool = True) -> list[dict[str, Any]]:
    """The user's accounts (not deleted), default first, masked."""
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            f"SELECT {_VIEW} FROM broker_accounts WHERE user_id = %s AND deleted_at IS NULL"
            " AND (is_active OR %s) ORDER BY is_default DESC, created_at", (user_id, include_inactive)).fetchall()
    return [_view(r) for r in rows]


def _fetch(conn: psycopg.Connection, user_id: str, account_id: str, columns: str = _VIEW) -> dict[str, Any]:
    if not is_uuid(account_id):
        raise NotFound("no such account", code="account_not_found")
    row = conn.execute(f"SELECT {columns} FROM broker_accounts WHERE id = %s AND user_id = %s"  # noqa: S608
                       " AND deleted_at IS NULL", (account_id, user_id)).fetchone()
    if row is None:
        raise NotFound("no such account", code="account_not_found")
    return row


def is_uuid(value: str) -> bool:
    """True for a UUID in any of its usual spellings (ids in paths are checked before SQL)."""
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value or ""))


def get_account(resources: Resources, user_id: str, account_id: str) -> dict[str, Any]:
    with db.tenant(resources.pool, user_id) as conn:
        return _view(_fetch(conn, user_id, account_id))


def update_account(resources: Resources, user_id: str, account_id: str, *, ip: str | None = None,
                   **changes: Any) -> dict[str, Any]:
    """Change limits, label, active flag or default; `None` limits clear the limit."""
    allowed = {"label", "max_position_size", "max_daily_trades", "allowed_products", "is_active", "is_default"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} cannot be changed here")
    _check_limits(changes.get("max_position_size"), changes.get("max_daily_trades"),
                  changes.get("allowed_products"))
    with db.tenant(resources.pool, user_id) as conn:
        _fetch(conn, user_id, account_id, "id")
        if changes.get("is_default"):
            # Clear the old default first: the partial unique index allows one per user.
            conn.execute("UPDATE broker_accounts SET is_default = false WHERE user_id = %s AND is_default",
                         (user_id,))
        for column, value in changes.items():
            if column == "allowed_products" and value is None:
                continue
            conn.execute(sql.SQL("UPDATE broker_accounts SET {} = %s, updated_at = now()"
                                         " WHERE id = %s AND user_id = %s").format(sql.Identifier(column)),
                         (value, account_id, user_id))
        event = audit.Event.ACCOUNT_DISABLED if changes.get("is_active") is False else audit.Event.ACCOUNT_UPDATED
        audit.record(conn, event, user_id, ip=ip,
                     details={"account_id": account_id, "fields": sorted(changes)})
        return _view(_fetch(conn, user_id, account_id))


def disable_account(resources: Resources, user_id: str, account_id: str, *, ip: str | None = None) -> dict[str, Any]:
    return update_account(resources, user_id, account_id, is_active=False, ip=ip)


def delete_account(resources: Resources, user_id: str, account_id: str, *, ip: str | None = None) -> None:
    """Soft delete: the row stays for history, the account disappears from every view."""
    with db.tenant(resources.pool, user_id) as conn:
        _fetch(conn, user_id, account_id, "id")
        conn.execute("UPDATE broker_accounts SET deleted_at = now(), is_active = false, is_default = false,"
                     " updated_at = now() WHERE id = %s AND user_id = %s", (account_id, user_id))
        audit.record(conn, audit.Event.ACCOUNT_DELETED, user_id, ip=ip, details={"account_id": account_id})


def get_credentials(resources: Resources, user_id: str, account_id: str) -> BrokerCredentials:
    """The decrypted credentials of an active account, for routing orders to its broker."""
    with db.tenant(resources.pool, user_id) as conn:
        row = _fetch(conn, user_id, account_id,
                     "broker, account_number, app_key, app_secret, account_password, is_paper, is_active")
    if not row["is_active"]:
        raise NotFound("the account is disabled", code="account_disabled")
    keys = resources.settings.encryption_keys

    def plain(token: str) -> str:
        return crypto.decrypt(keys, token) if token else ""

    return BrokerCredentials(app_key=plain(row["app_key"]), app_secret=plain(row["app_secret"]),
                             account_number=plain(row["account_number"]),
                             account_password=plain(row["account_password"]), paper=row["is_paper"])


def default_account(resources: Resources, user_id: str) -> dict[str, Any]:
    """The account an order without one goes to; makes the paper account if there is none yet."""
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(f"SELECT {_VIEW} FROM broker_accounts WHERE user_id = %s AND is_default"
                           " AND deleted_at IS NULL", (user_id,)).fetchone()
        if row is not None:
            return _view(row)
        try:
            with conn.transaction():
                return create_paper_account(conn, resources.settings, user_id)
        except psycopg.errors.UniqueViolation:
            pass  # a concurrent call made it first
        row = conn.execute(f"SELECT {_VIEW} FROM broker_accounts WHERE user_id = %s AND is_default"
                           " AND deleted_at IS NULL", (user_id,)).fetchone()
        return _view(row)


def check_connection(resources: Resources, user_id: str, account_id: str) -> dict[str, Any]:
    """Log in to the account's broker with its credentials; the answer never holds a secret."""
    view = get_account(resources, user_id, account_id)
    tester = CONNECTION_TESTERS.get(view["broker"])
    if tester is None:
        raise BrokerUnavailable(f"connection tests for {view['broker']} are not available yet",
                                code="broker_not_supported")
    tester(resources.settings, view["broker"], get_credentials(resources, user_id, account_id))
    return {"ok": True, "account_id": account_id, "broker": view["broker"], "is_paper": view["is_paper"]}



def rotate_keys(pool: ConnectionPool, settings: Settings) -> int:
    """Re-encrypt every stored secret under the newest key; returns the rows rewritten.

    Safe while the platform runs: old and new ciphertexts both decrypt (MultiFernet tries each
    key), and each row is rewritten in its own short transaction.
    """
    keys, count = settings.encryption_keys, 0
    for table, columns in encrypted_columns(pool).items():
        with db.service(pool) as conn:
            ids = [r["id"] for r in conn.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(table))).fetchall()]
        for row_id in ids:
            with db.service(pool) as conn:
                row = conn.execute(sql.SQL("SELECT {} FROM {} WHERE id = %s FOR UPDATE").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.Identifier(table)), (row_id,)).fetchone()
                if row is None:
                    continue
                values = [crypto.rotate(keys, row[c]) if row[c] else row[c] for c in columns]
                conn.execute(sql.SQL("UPDATE {} SET ({}) = ROW({}) WHERE id = %s").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns))), [*values, row_id])
                count += 1
    with db.service(pool) as conn:
        audit.record(conn, audit.Event.KEYS_ROTATED, None, details={"rows": count})
    return count


# Fernet-encrypted columns named before the `<name>_enc` convention; every `*_enc` column is
# found in the schema, so other areas' secrets (webhook secrets, ...) rotate too.
_ENCRYPTED: dict[str, tuple[str, ...]] = {
    "broker_accounts": SECRET_FIELDS,
    "users": ("totp_secret",),
    "api_keys": ("signing_secret",),
}


def encrypted_columns(pool: ConnectionPool) -> dict[str, tuple[str, ...]]:
    """Every encrypted column by table: the ones above and every `*_enc` text column of a table with `id`."""
    found = {table: list(columns) for table, columns in _ENCRYPTED.items()}
    with db.service(pool) as conn:
        rows = conn.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " WHERE c.table_schema = 'public' AND c.column_name LIKE '%%\\_enc' AND c.data_type = 'text'"
            " AND EXISTS (SELECT 1 FROM information_schema.columns i WHERE i.table_schema = 'public'"
            " AND i.table_name = c.table_name AND i.column_name = 'id') ORDER BY 1, 2").fetchall()
    for row in rows:
        found.setdefault(row["table_name"], []).append(row["column_name"])
    return {table: tuple(columns) for table, columns in found.items()}
