import datetime as dt
import json

from autostock import db, events
from autostock.notify import outbox, signing
from tests.alerts.conftest import bar
from tests.helpers import internal_headers, invoke


def send_bar(b: dict):
    return invoke("send-alert", "POST", "/", json.dumps(b).encode(),
                  headers=internal_headers(f"{events.BARS_1M}.{b['code']}"))


def make_alert(user, **overrides):
    body = {"symbol": "005930", "kind": "price_above", "params": {"price": 70000},
            "channels": ["telegram", "in_app"], **overrides}
    r = invoke("alerts", "POST", "/api/v1/alerts", body, token=user["token"])
    assert r.status == 201, r
    return r.json


def test_crossing_fires_one_telegram_message_and_hovering_fires_none(linked_user, telegram):
    u = linked_user()
    make_alert(u, repeat=True, cooldown_seconds=600)
    closes = [69_900, 70_100, 69_950, 70_050, 69_900, 70_100]   # hovering at the line, 6 minutes
    for minute, close in enumerate(closes):
        assert send_bar(bar("005930", close, minute)).status == 200
    assert telegram.texts(u["chat_id"]) == ["알림: 005930\n005930 70,100원 돌파 (기준 70,000원)"]
    inbox = invoke("alerts", "GET", "/api/v1/notifications", token=u["token"]).json
    assert inbox["unread"] == 1 and inbox["items"][0]["kind"] == "alert"


def test_english_users_get_english_text(linked_user, telegram):
    u = linked_user(language="en")
    make_alert(u, kind="price_below", params={"price": 60000})
    send_bar(bar("005930", 61_000, 0))
    send_bar(bar("005930", 59_900, 1))
    assert telegram.texts(u["chat_id"]) == ["Alert: 005930\n005930 fell below KRW 60,000 at KRW 59,900"]


def test_redelivered_bar_sends_nothing_twice(linked_user, telegram):
    u = linked_user()
    make_alert(u)
    message = bar("005930", 71_000, 0)
    for _ in range(3):
        send_bar(message)
    assert len(telegram.texts(u["chat_id"])) == 1


def test_dropped_message_is_delivered_by_the_redrive(linked_user, telegram, tg_resources):
    u = linked_user()
    # A fill's notification, written with its cause; the NATS wake-up never arrives.
    with db.tenant(tg_resources.pool, u["id"]) as conn:
        outbox.enqueue(conn, u["id"], kind="fill", dedup_key="fill:abc", title="체결 알림", body="체결: 005930")
    assert telegram.texts(u["chat_id"]) == []
    outbox.drain(tg_resources)                       # what market-clock does every minute
    outbox.drain(tg_resources)
    assert telegram.texts(u["chat_id"]) == ["체결 알림\n체결: 005930"]


def test_telegram_429_then_500_is_retried_then_sent_once(linked_user, telegram, tg_resources):
    u = linked_user()
    telegram.script = [(429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                              "parameters": {"retry_after": 3}}),
                       (500, {"ok": False, "description": "Internal"})]
    with db.tenant(tg_resources.pool, u["id"]) as conn:
        outbox.enqueue(conn, u["id"], kind="fill", dedup_key="fill:retry", title="t", body="b")
    now = dt.datetime.now(dt.UTC)
    assert outbox.drain(tg_resources, now=now)["retry"] == 1
    assert outbox.drain(tg_resources, now=now + dt.timedelta(seconds=1)) == {"sent": 0, "retry": 0, "failed": 0}
    assert outbox.drain(tg_resources, now=now + dt.timedelta(seconds=4))["retry"] == 1
    assert outbox.drain(tg_resources, now=now + dt.timedelta(minutes=5))["sent"] == 1
    assert outbox.drain(tg_resources, now=now + dt.timedelta(hours=1))["sent"] == 0
    assert telegram.texts(u["chat_id"]) == ["t\nb"]
    log = invoke("alerts", "GET", "/api/v1/notifications/deliveries", token=u["token"]).json["items"]
    assert log[0]["status"] == "sent" and log[0]["attempts"] == 3


def test_users_never_receive_each_others_alerts(linked_user, telegram):
    a, b = linked_user(), linked_user()
    make_alert(a)
    send_bar(bar("005930", 72_000, 0))
    assert len(telegram.texts(a["chat_id"])) == 1 and telegram.texts(b["chat_id"]) == []
    assert invoke("alerts", "GET", "/api/v1/notifications", token=b["token"]).json["items"] == []


def test_unknown_topic_and_bad_bar_are_refused(resources):
    r = invoke("send-alert", "POST", "/", b"{}", headers=internal_headers("weather.today"))
    assert r.status == 400 and r.error_code == "unknown_topic"
    r = invoke("send-alert", "POST", "/", b'{"code": "005930"}', headers=internal_headers("bars.1m.005930"))
    assert r.status == 400 and r.error_code == "bad_bar"


def test_signature_recipe_verifies_independently():
    import hashlib
    import hmac
    body = b'{"id":"n1"}'
    headers = signing.signed_headers("whsec_x", body, now=1_700_000_000)
    expected = "sha256=" + hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers[signing.SIGNATURE_HEADER] == expected
    assert signing.verify("whsec_x", "1700000000", expected, body, now=1_700_000_100) is None
    assert signing.verify("whsec_x", "1700000000", expected, body, now=1_700_001_000) == "expired_signature"
    assert signing.verify("whsec_y", "1700000000", expected, body, now=1_700_000_000) == "bad_signature"


def test_telegram_link_by_one_time_code(user_factory, telegram, tg_resources):
    from autostock.notify import telegram as tg
    u = user_factory()
    link = invoke("alerts", "POST", "/api/v1/notifications/telegram/link", token=u["token"])
    assert link.status == 201
    code = link.json["code"]
    telegram.updates = [
        {"update_id": 10, "message": {"chat": {"id": 555001}, "text": "/start WRONGCODE"}},
        {"update_id": 11, "message": {"chat": {"id": 555002}, "text": f"/start {code.lower()}"}},
    ]
    assert tg.poll_updates(tg_resources) == 1
    assert tg.poll_updates(tg_resources) == 0          # the offset moved on; the code is spent
    settings = invoke("alerts", "GET", "/api/v1/notifications/settings", token=u["token"]).json
    assert settings["telegram_linked"] is True
    assert telegram.texts(555002)                     # the bot confirmed in that chat
    telegram.updates.append({"update_id": 12, "message": {"chat": {"id": 555003}, "text": f"/start {code}"}})
    assert tg.poll_updates(tg_resources) == 0          # a used code links nothing
