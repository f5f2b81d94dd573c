"""Alerts CRUD: a user's own alerts only (tenant transactions, RLS behind them)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from psycopg.types.json import Jsonb

from autostock import db
from autostock.alerts.rules import KINDS, validate_params
from autostock.contract import require_fields
from autostock.errors import NotFound, ValidationError
from autostock.resources import Resources

CHANNELS = ("in_app", "telegram", "webhook")
MAX_ALERTS_PER_USER = 500
_SYMBOL = re.compile(r"^[0-9A-Z]{6}$")
_UUID = re.compile(r"^[0-9a-fA-F-]{36}$")

_FIELDS = {"symbol": str, "kind": str, "params": dict}
_OPTIONAL = {"repeat": bool, "cooldown_seconds": int, "active_from": str, "active_to": str,
             "channels": list, "note": str, "is_active": bool}
_COLUMNS = ("id, symbol, kind, params, repeat, cooldown_seconds, active_from, active_to, channels, note,"
            " is_active, last_state, last_fired_at, fired_count, created_at, updated_at")


def _time(value: str | None, name: str) -> dt.time | None:
    if value is None:
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError as e:
        raise ValidationError(f"{name} must be HH:MM", details={"field": name}) from e


def _checked(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    required = {} if partial else _FIELDS
    optional = {**_OPTIONAL, **(_FIELDS if partial else {})}
    clean = require_fields(data, required, optional)
    if "symbol" in clean and not _SYMBOL.match(clean["symbol"]):
        raise ValidationError("symbol must be a 6-character KRX code", details={"field": "symbol"})
    if "kind" in clean and clean["kind"] not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}", details={"field": "kind"})
    if "cooldown_seconds" in clean and not 0 <= clean["cooldown_seconds"] <= 604_800:
        raise ValidationError("cooldown_seconds must be within 0..604800", details={"field": "cooldown_seconds"})
    if "channels" in clean:
        channels = clean["channels"]
        if not channels or any(c not in CHANNELS for c in channels):
            raise ValidationError(f"channels must be a non-empty list of {', '.join(CHANNELS)}",
                                  details={"field": "channels"})
        clean["channels"] = sorted(set(channels))
    for name in ("active_from", "active_to"):
        if name in clean:
            clean[name] = _time(clean[name], name)
    if ("active_from" in clean) != ("active_to" in clean) and not partial:
        raise ValidationError("active_from and active_to go together", details={"field": "active_to"})
    if len(clean.get("note", "")) > 200:
        raise ValidationError("note is longer than 200 characters", details={"field": "note"})
    return clean


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["id"] = str(out["id"])
    for name in ("active_from", "active_to"):
        out[name] = out[name].strftime("%H:%M") if out[name] else None
    for name in ("last_fired_at", "created_at", "updated_at"):
        out[name] = out[name].isoformat() if out[name] else None
    return out


def _alert_id(value: str) -> str:
    if not _UUID.match(value):
        raise NotFound("no such alert", code="alert_not_found")
    return value


def create(resources: Resources, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    clean = _checked(data, partial=False)
    clean["params"] = validate_params(clean["kind"], clean["params"])
    with db.tenant(resources.pool, user_id) as conn:
        count = conn.execute("SELECT count(*) AS n FROM alerts WHERE user_id = %s", (user_id,)).fetchone()["n"]
        if count >= MAX_ALERTS_PER_USER:
            raise ValidationError(f"at most {MAX_ALERTS_PER_USER} alerts per user", code="too_many_alerts")
        row = conn.execute(
            f"INSERT INTO alerts (user_id, symbol, kind, params, repeat, cooldown_seconds, active_from,"
            f" active_to, channels, note, is_active) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (user_id, clean["symbol"], clean["kind"], Jsonb(clean["params"]), clean.get("repeat", False),
             clean.get("cooldown_seconds", 900), clean.get("active_from"), clean.get("active_to"),
             clean.get("channels", ["in_app"]), clean.get("note", ""), clean.get("is_active", True)),
        ).fetchone()
    return _row(row)


def list_alerts(resources: Resources, user_id: str, symbol: str | None = None) -> list[dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE user_id = %s AND (%s::text IS NULL OR symbol = %s)"
            " ORDER BY created_at DESC", (user_id, symbol, symbol)).fetchall()
    return [_row(r) for r in rows]


def get(resources: Resources, user_id: str, alert_id: str) -> dict[str, Any]:
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = %s AND user_id = %s",
                           (_alert_id(alert_id), user_id)).fetchone()
    if row is None:
        raise NotFound("no such alert", code="alert_not_found")
    return _row(row)


def update(resources: Resources, user_id: str, alert_id: str, data: dict[str, Any]) -> dict[str, Any]:
    clean = _checked(data, partial=True)
    current = get(resources, user_id, alert_id)
    kind = clean.get("kind", current["kind"])
    if "params" in clean or "kind" in clean:
        clean["params"] = Jsonb(validate_params(kind, clean.get("params", current["params"])))
    if not clean:
        return current
    # A changed condition starts from a clean slate: the next bar decides its side afresh.
    resets_state = any(k in clean for k in ("kind", "params", "symbol"))
    sets = ", ".join(f"{name} = %s" for name in clean)
    extra = ", last_state = NULL" if resets_state else ""
    with db.tenant(resources.pool, user_id) as conn:
        row = conn.execute(
            f"UPDATE alerts SET {sets}{extra}, updated_at = now() WHERE id = %s AND user_id = %s"
            f" RETURNING {_COLUMNS}", (*clean.values(), alert_id, user_id)).fetchone()
    if row is None:
        raise NotFound("no such alert", code="alert_not_found")
    return _row(row)


def delete(resources: Resources, user_id: str, alert_id: str) -> None:
    with db.tenant(resources.pool, user_id) as conn:
        deleted = conn.execute("DELETE FROM alerts WHERE id = %s AND user_id = %s",
                               (_alert_id(alert_id), user_id)).rowcount
    if not deleted:
        raise NotFound("no such alert", code="alert_not_found")


def firings(resources: Resources, user_id: str, alert_id: str, limit: int = 50) -> list[dict[str, Any]]:
    get(resources, user_id, alert_id)
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT bar_time, price, observed, fired_at FROM alert_firings WHERE alert_id = %s"
            " AND user_id = %s ORDER BY fired_at DESC LIMIT %s", (alert_id, user_id, limit)).fetchall()
    return [{**r, "bar_time": r["bar_time"].isoformat(), "fired_at": r["fired_at"].isoformat()} for r in rows]
