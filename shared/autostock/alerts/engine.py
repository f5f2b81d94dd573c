"""Evaluate every active alert of a symbol when its minute closes.

Runs in `send-alert` on `bars.1m.<code>`. The bar history an indicator or volume condition
needs is kept in Redis as a sorted set keyed by bar time, so a redelivered bar changes
nothing. Alert rows are locked for the evaluation, and a firing is unique per (alert, bar),
so two deliveries of the same bar at once still fire once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from psycopg.types.json import Jsonb

from autostock import db, events
from autostock.alerts.rules import HISTORY_BARS, Bar, condition, in_active_hours, should_fire
from autostock.market.calendar import SEOUL
from autostock.notify import messages, outbox
from autostock.resources import Resources

log = logging.getLogger("autostock.alerts")


def _history(resources: Resources, bar: Bar) -> tuple[list[int], list[int]]:
    key = resources.settings.redis_key("alerts", "bars", bar.code)
    ts = int(bar.time.timestamp())
    pipe = resources.redis.pipeline()
    pipe.zadd(key, {f"{ts}:{bar.close}:{bar.volume}": ts})
    pipe.zremrangebyrank(key, 0, -(HISTORY_BARS + 1))
    pipe.expire(key, 7 * 86400)
    pipe.zrangebyscore(key, "-inf", f"({ts}")
    earlier = pipe.execute()[-1]
    closes, volumes = [], []
    for member in earlier:
        _, close, volume = member.split(":")
        closes.append(int(close))
        volumes.append(int(volume))
    return closes, volumes


def _symbol_name(conn: Any, code: str) -> str | None:
    try:
        with conn.transaction():
            row = conn.execute("SELECT name FROM symbols WHERE code = %s", (code,)).fetchone()
        return row["name"] if row else None
    except Exception:  # the symbols table is market data's; a message without a name is fine
        return None


def evaluate_bar(resources: Resources, bar: Bar, *, now: dt.datetime | None = None) -> list[str]:
    """Evaluate the symbol's alerts on `bar`; returns the ids of notifications created."""
    now = now or dt.datetime.now(dt.UTC)
    closes, volumes = _history(resources, bar)
    created: list[str] = []
    fired: list[dict[str, Any]] = []
    with db.service(resources.pool) as conn:
        alerts = conn.execute(
            "SELECT * FROM alerts WHERE symbol = %s AND is_active"
            " AND (last_bar_at IS NULL OR last_bar_at < %s) ORDER BY id FOR UPDATE",
            (bar.code, bar.time)).fetchall()
        name = _symbol_name(conn, bar.code) if alerts else None
        local = bar.time.astimezone(SEOUL).time()
        for alert in alerts:
            met = condition(alert["kind"], alert["params"], bar, closes, volumes)
            fire = in_active_hours(local, alert["active_from"], alert["active_to"]) and should_fire(
                met=met, last_state=alert["last_state"], last_fired_at=alert["last_fired_at"],
                fired_count=alert["fired_count"], repeat=alert["repeat"],
                cooldown=dt.timedelta(seconds=alert["cooldown_seconds"]), now=bar.time)
            state = alert["last_state"] if met is None else met
            if fire and _record_firing(conn, alert, bar):
                notification_id = _notify(conn, alert, bar, name)
                if notification_id:
                    created.append(notification_id)
                fired.append({"alert_id": str(alert["id"]), "user_id": str(alert["user_id"]),
                              "code": bar.code, "price": bar.close, "bar_time": bar.time.isoformat()})
                conn.execute(
                    "UPDATE alerts SET last_state = %s, last_bar_at = %s, last_fired_at = %s,"
                    " fired_count = fired_count + 1, is_active = (repeat OR false) WHERE id = %s",
                    (state, bar.time, bar.time, alert["id"]))
            else:
                conn.execute("UPDATE alerts SET last_state = %s, last_bar_at = %s WHERE id = %s",
                             (state, bar.time, alert["id"]))
    for event in fired:
        try:
            resources.events.publish(events.ALERTS_FIRED, event)
        except Exception as e:  # the outbox already holds the notification; the event is a courtesy
            log.warning("alerts.fired not published", extra={"error": type(e).__name__})
    return created


def _record_firing(conn: Any, alert: dict[str, Any], bar: Bar) -> bool:
    row = conn.execute(
        "INSERT INTO alert_firings (alert_id, user_id, bar_time, price, observed) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (alert_id, bar_time) DO NOTHING RETURNING id",
        (alert["id"], alert["user_id"], bar.time, bar.close,
         Jsonb({"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume})),
    ).fetchone()
    return row is not None


def _notify(conn: Any, alert: dict[str, Any], bar: Bar, name: str | None) -> str | None:
    user_id = str(alert["user_id"])
    language = outbox.user_language(conn, user_id)
    title, body = messages.alert_text(language, kind=alert["kind"], code=bar.code, name=name, price=bar.close,
                                      params=alert["params"], volume=bar.volume, prev_close=bar.prev_close)
    external = [c for c in alert["channels"] if c != "in_app"]
    return outbox.enqueue(conn, user_id, kind="alert", dedup_key=f"alert:{alert['id']}:{bar.time.isoformat()}",
                          title=title, body=body, channels=external,
                          payload={"alert_id": str(alert["id"]), "symbol": bar.code, "price": bar.close,
                                   "bar_time": bar.time.isoformat(), "kind": alert["kind"]})
