import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autostock import db
from autostock.notify import outbox, webhooks
from tests.helpers import invoke


class Receiver:
    """A webhook endpoint that checks the documented recipe itself, or fails on purpose."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), {"raw": body}))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_delivered_payload_verifies_with_the_documented_recipe(user_factory, resources, receiver):
    u = user_factory()
    hook = invoke("alerts", "POST", "/api/v1/notifications/webhooks", {"url": receiver.url}, token=u["token"])
    assert hook.status == 201 and hook.json["secret"].startswith("whsec_")
    secret = hook.json["secret"]
    listed = invoke("alerts", "GET", "/api/v1/notifications/webhooks", token=u["token"]).json["items"]
    assert "secret" not in listed[0] and "secret_enc" not in listed[0]
    with db.tenant(resources.pool, u["id"]) as conn:
        nid = outbox.enqueue(conn, u["id"], kind="fill", dedup_key="fill:w1", title="Order filled", body="BUY 10")
    outbox.drain(resources, notification_ids=[nid])
    headers, got = receiver.received[0]
    ts, sig = headers["X-AutoStock-Timestamp"], headers["X-AutoStock-Signature"]
    mine = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + got["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mine, sig)
    payload = json.loads(got["raw"])
    assert payload["id"] == nid and payload["kind"] == "fill" and headers["X-AutoStock-Delivery"] == nid


def test_failing_endpoint_is_retried_logged_then_disabled_and_the_user_told(user_factory, resources):
    failing = Receiver(status=503)
    try:
        u = user_factory()
        invoke("alerts", "POST", "/api/v1/notifications/webhooks", {"url": failing.url}, token=u["token"])
        with db.tenant(resources.pool, u["id"]) as conn:
            outbox.enqueue(conn, u["id"], kind="fill", dedup_key="fill:f1", title="t", body="b")
        now = dt.datetime.now(dt.UTC)
        for step in range(webhooks.DISABLE_AFTER_FAILURES):
            outbox.drain(resources, now=now + dt.timedelta(hours=step))
        assert len(failing.received) == webhooks.DISABLE_AFTER_FAILURES
        log = invoke("alerts", "GET", "/api/v1/notifications/deliveries", token=u["token"]).json["items"]
        assert log[0]["last_status_code"] == 503 and log[0]["attempts"] == webhooks.DISABLE_AFTER_FAILURES
        hooks = invoke("alerts", "GET", "/api/v1/notifications/webhooks", token=u["token"]).json["items"]
        assert hooks[0]["is_active"] is False and hooks[0]["disabled_reason"]
        inbox = invoke("alerts", "GET", "/api/v1/notifications", token=u["token"]).json["items"]
        assert any(n["kind"] == "system" and "disabled" in n["title"] for n in inbox)
        outbox.drain(resources, now=now + dt.timedelta(days=1))
        assert len(failing.received) == webhooks.DISABLE_AFTER_FAILURES   # nothing more is sent
    finally:
        failing.close()


@pytest.mark.parametrize("url", ["ftp://x", "not a url", "http://" + "a" * 600])
def test_bad_webhook_urls_are_refused(user_factory, url):
    u = user_factory()
    r = invoke("alerts", "POST", "/api/v1/notifications/webhooks", {"url": url}, token=u["token"])
    assert r.status == 400
    assert invoke("alerts", "GET", "/api/v1/notifications/webhooks", token=u["token"]).json["items"] == []
