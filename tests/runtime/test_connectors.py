"""Cron fires on schedule (time controlled here); NATS messages reach their functions."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from autostock.runtime.connectors import SEOUL, CronConnector, HttpInvoker, NatsConnector, subscriptions
from tests.helpers import eventually
from tests.runtime.conftest import calls_of, running


def test_cron_function_fires_on_its_schedule_in_seoul_time(gateway, test_stack, resources):
    clock = {"now": datetime(2026, 3, 2, 9, 1, 30, tzinfo=SEOUL)}
    cron = CronConnector(test_stack, HttpInvoker(gateway, resources.settings.internal_token), now=lambda: clock["now"])
    assert cron.next_at == {"ticker": datetime(2026, 3, 2, 9, 5, tzinfo=SEOUL)}  # */5, Seoul
    assert cron.tick(datetime(2026, 3, 2, 9, 4, 59, tzinfo=SEOUL)) == []
    assert calls_of(test_stack.root, "ticker") == []
    assert cron.tick(datetime(2026, 3, 2, 9, 5, 0, tzinfo=SEOUL)) == ["ticker"]
    assert cron.tick(datetime(2026, 3, 2, 9, 5, 1, tzinfo=SEOUL)) == []   # once per fire time
    # 00:10 UTC is 09:10 in Seoul: the next fire time.
    assert cron.tick(datetime(2026, 3, 2, 0, 10, 0, tzinfo=timezone.utc)) == ["ticker"]
    first = calls_of(test_stack.root, "ticker")[0]
    assert (first["method"], first["body"], first["topic"], first["connector"], first["internal"]) == \
        ("POST", "", "cron-function", "cron-connector", resources.settings.internal_token.reveal())
    assert len(calls_of(test_stack.root, "ticker")) == 2


def test_cron_run_loop_stops_when_asked(test_stack):
    fired = []
    stop = threading.Event()
    moments = iter([datetime(2026, 3, 2, 9, 4, 59, tzinfo=SEOUL)] + [datetime(2026, 3, 2, 9, 5, tzinfo=SEOUL)] * 1000)
    cron = CronConnector(test_stack, lambda name, body, headers: fired.append(name) or 200,
                         now=lambda: next(moments))
    thread = threading.Thread(target=cron.run, args=(stop,))
    thread.start()
    eventually(lambda: fired == ["ticker"], timeout=5)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_nats_topic_delivers_the_raw_message_to_its_function(gateway, test_stack, resources):
    assert subscriptions(test_stack) == {"rt.events": ["listener"], "rt.more.>": ["listener"]}
    invoke = HttpInvoker(gateway, resources.settings.internal_token)
    with running(NatsConnector(test_stack, resources.settings, invoke)):
        resources.events.publish("rt.events", b"\x00raw bytes")
        resources.events.publish("rt.more.005930", {"price": 70000})
        got = eventually(lambda: len(calls_of(test_stack.root, "listener")) >= 2
                                 and calls_of(test_stack.root, "listener"))
    by_topic = {c["topic"]: c for c in got}
    assert by_topic["rt.events"]["body"] == "\x00raw bytes"
    assert by_topic["rt.events"]["connector"] == "connector-sdk"
    assert by_topic["rt.more.005930"]["body"] == '{"price": 70000}'
    assert all(c["method"] == "POST" and c["path"] == "/" for c in got)
    assert all(c["internal"] == resources.settings.internal_token.reveal() for c in got)
