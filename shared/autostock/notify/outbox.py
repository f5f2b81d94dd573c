"""The notification outbox: written with its cause, delivered at least once, sent once.

`enqueue` runs inside the transaction that causes the notification (a fill, an alert firing),
so a notification exists exactly when its cause does. It fans out one `deliveries` row per
external channel; that row's unique (notification, channel, target) is the dedup key, and once
it says `sent` nothing sends it again. `drain` claims due rows (SKIP LOCKED, with a lease so a
crashed sender's rows come back), sends, and records the outcome with back-off. `send-alert`
drains right after an event; `market-clock` drains every minute so nothing depends on one
NATS message arriving.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from autostock import crypto, db
from autostock.notify import telegram, webhooks
from autostock.notify.transport import Outcome
from autostock.resources import Resources

log = logging.getLogger("autostock.notify.outbox")

LEASE = dt.timedelta(seconds=60)
MAX_ATTEMPTS = 8
BASE_BACKOFF = 5          # seconds; doubles per attempt
MAX_BACKOFF = 900


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(0, attempts - 1)))


def enqueue(conn: psycopg.Connection, user_id: str, *, kind: str, dedup_key: str, title: str, body: str,
            payload: dict[str, Any] | None = None, channels: list[str] | None = None) -> str | None:
    """Write a notification and its deliveries in the caller's transaction.

    `channels` limits the external channels (None: every one the user configured).
    Returns the notification id, or None when `dedup_key` was already used (a replay).
    """
    wanted = set(channels) if channels is not None else {"telegram", "webhook"}
    row = conn.execute(_ENQUEUE, {
        "u": user_id, "kind": kind, "dedup": dedup_key, "title": title, "body": body,
        "payload": Jsonb(payload or {}), "telegram": "telegram" in wanted,
        "webhook": "webhook" in wanted}).fetchone()
    return None if row is None else str(row["id"])


# The notification (from `source`, a VALUES or SELECT of its six columns), then one delivery
# per configured channel that `telegram` / `webhook` (SQL booleans) allow, only when the
# notification went in (a replayed dedup_key inserts nothing). CTEs of one statement, whose
# `notice` holds the new notification's id.
def _enqueue_ctes(source: str, *, telegram: str, webhook: str) -> str:
    return (
        "notice AS (INSERT INTO notifications (user_id, kind, dedup_key, title, body, payload)"
        f"   {source} ON CONFLICT (user_id, dedup_key) DO NOTHING RETURNING id),"
        " telegram AS (INSERT INTO deliveries (notification_id, user_id, channel, target)"
        "   SELECT notice.id, s.user_id, 'telegram', s.telegram_chat_id::text FROM notice, notification_settings s"
        f"   WHERE {telegram} AND s.user_id = %(u)s AND s.telegram_chat_id IS NOT NULL ON CONFLICT DO NOTHING),"
        " webhook AS (INSERT INTO deliveries (notification_id, user_id, channel, target)"
        "   SELECT notice.id, w.user_id, 'webhook', w.id::text FROM notice, outbound_webhooks w"
        f"   WHERE {webhook} AND w.user_id = %(u)s AND w.is_active ON CONFLICT DO NOTHING)")


_ENQUEUE = ("WITH " + _enqueue_ctes("VALUES (%(u)s, %(kind)s, %(dedup)s, %(title)s, %(body)s, %(payload)s)",
                                    telegram="%(telegram)s", webhook="%(webhook)s") + " SELECT id FROM notice")


def enqueue_localized(conn: psycopg.Connection, user_id: str, *, kind: str, dedup_key: str,
                      texts: dict[str, tuple[str, str]], switch: str,
                      payload: dict[str, Any] | None = None) -> str | None:
    """`enqueue` with the user's settings read by the same statement: `texts` maps each language
    to its (title, body), and the user's language picks one (Korean when unset or unknown);
    with `switch` (a yes/no column of notification_settings, on when unset) off, the
    notification is kept in the app but goes to no external channel. One round trip, where
    reading the settings first would be two."""
    row = conn.execute(_ENQUEUE_LOCALIZED[switch], {
        "u": user_id, **localized_params(kind=kind, texts=texts, payload=payload), "dedup": dedup_key}).fetchone()
    return None if row is None else str(row["id"])


def localized_ctes(switch: str, *, dedup: str = "%(dedup)s", payload: str = "%(payload)s",
                   after: str = "") -> str:
    """`enqueue_localized`'s CTEs, for a statement that writes the notice with its cause:
    `dedup` and `payload` are SQL (the cause's CTEs may make them), `after` a FROM list the
    notice needs a row of (it is written once per row). Parameters: `localized_params` and
    `u`, the user."""
    if switch not in _SWITCHES:
        raise ValueError(f"not a notification switch: {switch}")
    wanted = "coalesce((SELECT wanted FROM prefs), true)"   # no settings row: the switch is on
    return (
        f"prefs AS (SELECT language, {switch} AS wanted FROM notification_settings WHERE user_id = %(u)s),"
        " text AS (SELECT coalesce(%(texts)s::jsonb -> (SELECT language FROM prefs), %(texts)s::jsonb -> 'ko')"
        "   AS pair), "
        + _enqueue_ctes(f"SELECT %(u)s, %(kind)s, {dedup}, pair ->> 0, pair ->> 1, {payload} FROM text{after}",
                        telegram=wanted, webhook=wanted))


def localized_params(*, kind: str, texts: dict[str, tuple[str, str]],
                     payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": kind, "payload": Jsonb(payload or {}),
            "texts": Jsonb({language: list(pair) for language, pair in texts.items()})}


# The switches `enqueue_localized` takes: column names written into SQL, so only these.
_SWITCHES = ("notify_fills",)
_ENQUEUE_LOCALIZED = {switch: f"WITH {localized_ctes(switch)} SELECT id FROM notice" for switch in _SWITCHES}


def user_language(conn: psycopg.Connection, user_id: str) -> str:
    row = conn.execute("SELECT language FROM notification_settings WHERE user_id = %s", (user_id,)).fetchone()
    return row["language"] if row else "ko"


def _claim(resources: Resources, now: dt.datetime, limit: int,
           notification_ids: list[str] | None) -> list[dict[str, Any]]:
    with db.service(resources.pool) as conn:
        return conn.execute(
            "UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, next_attempt_at = %s"
            " FROM notifications n WHERE d.notification_id = n.id AND d.id IN ("
            "   SELECT id FROM deliveries WHERE status IN ('pending', 'sending') AND next_attempt_at <= %s"
            "   AND (%s::uuid[] IS NULL OR notification_id = ANY(%s::uuid[]))"
            "   ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING d.id, d.user_id, d.channel, d.target, d.attempts, n.id AS notification_id, n.kind,"
            " n.title, n.body, n.payload, n.created_at",
            (now + LEASE, now, notification_ids, notification_ids, limit)).fetchall()


def _send(resources: Resources, row: dict[str, Any]) -> Outcome:
    if row["channel"] == "telegram":
        return telegram.send_message(resources.settings, int(row["target"]), f"{row['title']}\n{row['body']}")
    with db.service(resources.pool) as conn:
        hook = conn.execute("SELECT url, secret_enc, is_active FROM outbound_webhooks WHERE id = %s",
                            (row["target"],)).fetchone()
    if hook is None or not hook["is_active"]:
        return Outcome.permanent("webhook removed or disabled")
    payload = {"id": str(row["notification_id"]), "kind": row["kind"], "title": row["title"],
               "body": row["body"], "data": row["payload"], "created_at": row["created_at"].isoformat()}
    secret = crypto.decrypt(resources.settings.encryption_keys, hook["secret_enc"])
    return webhooks.send(hook["url"], secret, payload, str(row["notification_id"]))


def _record(resources: Resources, row: dict[str, Any], outcome: Outcome, now: dt.datetime) -> None:
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO delivery_attempts (delivery_id, user_id, status_code, error)"
                     " VALUES (%s, %s, %s, %s)", (row["id"], row["user_id"], outcome.status_code,
                                                   outcome.error or None))
        if outcome.ok:
            conn.execute("UPDATE deliveries SET status = 'sent', sent_at = %s, last_status_code = %s,"
                         " last_error = NULL WHERE id = %s", (now, outcome.status_code, row["id"]))
        elif outcome.retry and row["attempts"] < MAX_ATTEMPTS:
            wait = dt.timedelta(seconds=outcome.retry_after) if outcome.retry_after else backoff(row["attempts"])
            conn.execute("UPDATE deliveries SET status = 'pending', next_attempt_at = %s, last_status_code = %s,"
                         " last_error = %s WHERE id = %s", (now + wait, outcome.status_code, outcome.error, row["id"]))
        else:
            conn.execute("UPDATE deliveries SET status = 'failed', last_status_code = %s, last_error = %s"
                         " WHERE id = %s", (outcome.status_code, outcome.error, row["id"]))
        if row["channel"] == "webhook":
            _track_webhook_health(conn, row, outcome)


def _track_webhook_health(conn: psycopg.Connection, row: dict[str, Any], outcome: Outcome) -> None:
    if outcome.ok:
        conn.execute("UPDATE outbound_webhooks SET consecutive_failures = 0 WHERE id = %s", (row["target"],))
        return
    hook = conn.execute(
        "UPDATE outbound_webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = %s"
        " RETURNING consecutive_failures, is_active, url", (row["target"],)).fetchone()
    if hook and hook["is_active"] and hook["consecutive_failures"] >= webhooks.DISABLE_AFTER_FAILURES:
        conn.execute("UPDATE outbound_webhooks SET is_active = false, disabled_reason = %s WHERE id = %s",
                     (f"{hook['consecutive_failures']} failed attempts in a row", row["target"]))
        enqueue(conn, str(row["user_id"]), kind="system", dedup_key=f"webhook-disabled:{row['target']}",
                title="Webhook disabled", body=f"{hook['url']} failed {hook['consecutive_failures']} times"
                " in a row and was disabled; re-create it when it works again.", channels=[])


def drain(resources: Resources, *, now: dt.datetime | None = None, limit: int = 100,
          notification_ids: list[str] | None = None) -> dict[str, int]:
    """Send what is due; returns counts by result. Safe to run in many processes at once."""
    now = now or dt.datetime.now(dt.UTC)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in _claim(resources, now, limit, notification_ids):
        outcome = _send(resources, row)
        _record(resources, row, outcome, now)
        key = "sent" if outcome.ok else ("retry" if outcome.retry and row["attempts"] < MAX_ATTEMPTS else "failed")
        counts[key] += 1
        if not outcome.ok:
            log.info("delivery not sent", extra={"delivery_id": row["id"], "channel": row["channel"],
                                                 "status_code": outcome.status_code, "error": outcome.error})
    return counts
