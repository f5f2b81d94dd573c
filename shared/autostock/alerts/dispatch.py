"""What `send-alert` does with each NATS message, by subject (the X-Topic header).

Only bar messages carry data that is acted on; fill/reject/fired events just wake the
outbox (their notification rows were written with their cause), so a forged or lost event
can neither invent nor suppress a notification.
"""

from __future__ import annotations

from typing import Any

from autostock import events
from autostock.alerts.engine import evaluate_bar
from autostock.alerts.rules import Bar
from autostock.contract import parse_json_object
from autostock.errors import ValidationError
from autostock.notify import outbox
from autostock.resources import Resources

WAKE_SUBJECTS = (f"{events.ORDERS}.filled", f"{events.ORDERS}.rejected", events.ALERTS_FIRED)


def on_message(resources: Resources, topic: str, body: bytes) -> dict[str, Any]:
    topic = topic.removeprefix(resources.settings.nats_prefix)
    if topic.startswith(events.BARS_1M + "."):
        bar = Bar.from_message(parse_json_object(body))
        if bar.code != topic.rsplit(".", 1)[1]:
            raise ValidationError("bar code does not match its subject", code="bad_bar")
        created = evaluate_bar(resources, bar)
        delivered = outbox.drain(resources, notification_ids=created) if created else {}
        return {"notifications": len(created), "delivered": delivered}
    if topic in WAKE_SUBJECTS:
        return {"delivered": outbox.drain(resources)}
    raise ValidationError(f"send-alert does not handle topic {topic!r}", code="unknown_topic")
