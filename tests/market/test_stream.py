"""The /ws/market stream: auth, subscriptions, close codes, bounded memory for a client that never reads."""

from __future__ import annotations

import json
import socket

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from autostock.auth.tokens import issue_access_token, revoke_jti
from autostock.market.stream import CLOSE_BAD_MESSAGE, CLOSE_UNAUTHORIZED, MAX_CODES, StreamServer
from tests.helpers import eventually
from tests.market.conftest import Running


@pytest.fixture
def stream(settings):
    server = StreamServer(settings, auth_timeout=0.5, heartbeat=0.3, write_limit=8 * 1024)
    running = Running(server)
    eventually(lambda: server.port)
    yield server
    running.stop()


def _url(server, token=None):
    return f"ws://127.0.0.1:{server.port}/ws/market" + (f"?token={token}" if token else "")


def _publish(resources, ticks):
    """Publish many ticks at once (one flush) on the bus's loop."""
    async def send(client):
        for code, price in ticks:
            await client.publish(resources.settings.subject("ticks", code),
                                 json.dumps({"code": code, "price": price, "volume": 1,
                                             "at": "2026-03-03T10:00:00+09:00", "pad": "x" * 200}).encode())
        await client.flush()
    resources.events.call(send)


def _recv_until(ws, kind, timeout=5.0):
    while True:
        msg = json.loads(ws.recv(timeout=timeout))
        if msg["type"] == kind:
            return msg


def _close_code(ws):
    with pytest.raises(ConnectionClosed) as e:
        for _ in range(10):
            ws.recv(timeout=5)
    return e.value.rcvd.code


def test_clients_get_ticks_of_their_own_subscriptions_only(stream, resources, user_factory):
    a, b = user_factory()["token"], user_factory()["token"]
    with connect(_url(stream, a)) as wa, connect(_url(stream)) as wb:
        wb.send(json.dumps({"op": "auth", "token": b}))                 # auth as the first message
        assert _recv_until(wa, "welcome")["max_codes"] == MAX_CODES
        _recv_until(wb, "welcome")
        wa.send(json.dumps({"op": "subscribe", "codes": ["005930"]}))
        wb.send(json.dumps({"op": "subscribe", "codes": ["000660", "005380"]}))
        assert _recv_until(wa, "subscribed")["codes"] == ["005930"]
        assert _recv_until(wb, "subscribed")["codes"] == ["000660", "005380"]
        _publish(resources, [("005930", 70_000), ("000660", 200_000), ("035720", 50_000)])
        tick = _recv_until(wa, "tick")
        assert (tick["code"], tick["price"]) == ("005930", 70_000)
        assert (_recv_until(wb, "tick")["code"]) == "000660"
        wb.send(json.dumps({"op": "unsubscribe", "codes": ["000660"]}))
        assert _recv_until(wb, "subscribed")["codes"] == ["005380"]
        _publish(resources, [("000660", 201_000), ("005380", 180_000)])
        assert _recv_until(wb, "tick")["code"] == "005380"
        assert _recv_until(wa, "heartbeat")["at"]
        wa.send(json.dumps({"op": "ping"}))
        assert _recv_until(wa, "pong")
        too_many = [f"{i:06d}" for i in range(MAX_CODES + 1)]
        wa.send(json.dumps({"op": "subscribe", "codes": too_many}))
        assert _recv_until(wa, "error")["code"] == "too_many_codes"
        wa.send(json.dumps({"op": "ping"}))
        assert _recv_until(wa, "pong")                                   # still open, nothing changed


def test_bad_tokens_and_bad_messages_are_closed_with_documented_codes(stream, settings, resources, user_factory):
    with connect(_url(stream, "not-a-token")) as ws:
        assert _close_code(ws) == CLOSE_UNAUTHORIZED
    with connect(_url(stream)) as ws:                                   # says nothing: auth times out
        assert _close_code(ws) == CLOSE_UNAUTHORIZED
    user = user_factory()
    token, claims = issue_access_token(settings, user["id"], ["read"])
    revoke_jti(settings, resources.redis, claims["jti"], claims["exp"])
    with connect(_url(stream, token)) as ws:
        assert _close_code(ws) == CLOSE_UNAUTHORIZED
    for bad in ("not json", json.dumps({"op": "subscribe", "codes": "005930"}), json.dumps({"op": "dance"}),
                json.dumps({"op": "subscribe", "codes": ["x' OR 1"]})):
        with connect(_url(stream, user["token"])) as ws:
            _recv_until(ws, "welcome")
            ws.send(bad)
            assert _close_code(ws) == CLOSE_BAD_MESSAGE
    eventually(lambda: stream.counters["refused"] == 7)


def test_a_client_that_never_reads_keeps_only_the_latest_tick_per_code(stream, resources, user_factory):
    token = user_factory()["token"]
    codes = ["005930", "000660", "005380", "035420", "051910"]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)          # backpressure reaches the server soon
    sock.connect(("127.0.0.1", stream.port))
    with connect(_url(stream, token), sock=sock, max_queue=1) as idle, connect(_url(stream, token)) as reader:
        _recv_until(idle, "welcome")
        idle.send(json.dumps({"op": "subscribe", "codes": codes}))
        _recv_until(reader, "welcome")
        reader.send(json.dumps({"op": "subscribe", "codes": ["005930"]}))
        _recv_until(reader, "subscribed")
        eventually(lambda: len(stream.by_code.get("051910", ())) == 1)
        for round_ in range(10):                                       # 20,000 ticks, ~5 MB of JSON
            _publish(resources, [(codes[i % 5], 1_000 + round_ * 2000 + i) for i in range(2000)])
        idle_client = next(c for c in stream.clients if len(c.codes) == 5)
        eventually(lambda: stream.counters["ticks_in"] >= 20_000, timeout=20)
        assert len(idle_client.pending) <= len(codes)
        assert idle_client.coalesced > 15_000 and idle_client.sent < 5_000
        assert idle_client.conn.transport.get_write_buffer_size() <= 8 * 1024 + 1024
        last = 1_000 + 9 * 2000 + 1995                                  # the newest 005930 price
        eventually(lambda: json.loads(reader.recv(timeout=5)).get("price") == last, timeout=10)
