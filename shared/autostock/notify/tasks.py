"""Market-clock tasks of the notification area: the outbox re-drive and Telegram links."""

from __future__ import annotations

import datetime as dt
from typing import Any

from autostock import timetable
from autostock.notify import outbox, telegram
from autostock.resources import Resources


@timetable.task("notify.redrive", timetable.every_minute)
def redrive(resources: Resources, now: dt.datetime) -> dict[str, Any]:
    """Deliver whatever is still pending (a lost NATS wake-up only delays a notice)."""
    return outbox.drain(resources, now=now, limit=500)


@timetable.task("notify.telegram_links", timetable.every_minute)
def telegram_links(resources: Resources, now: dt.datetime) -> dict[str, Any]:
    return {"linked": telegram.poll_updates(resources)}
