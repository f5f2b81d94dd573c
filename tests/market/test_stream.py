"""The /ws/market stream: auth (at connect, re-checked while connected, expiry and renewal),
subscriptions, close codes, bounded memory for a client that never reads."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from autostock.auth import sessions, users
from autostock.auth.tokens import issue_access_token, principal_from_claims, revoke_jti
from autostock.market import stream as stream_module
from autostock.market.stream import CLOSE_BAD_MESSAGE, CLOSE_UNAUTHORIZED, MAX_CODES, StreamServer
from tests.helpers import eventually
from tests.market.conftest import Running

SHORT_TTL = 4   # seconds: tokens that expire within a test; the server warns 2 s before


@pytest.fixture
def stream(resources):
    server = StreamServer(resources, auth_timeout=0.5, heartbeat=0.3, expiry_warning=2.0, write_limit=8 * 1024)
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


def _closed(ws):
    """Read until the server closes the connection (within 100 messages, heartbeats included):
    (close code, reason)."""
    with pytest.raises(ConnectionClosed) as e:
        for _ in range(100):
            ws.recv(timeout=5)
    return e.value.rcvd.code, e.value.rcvd.reason


def _refused(ws):
    """The close of a connection refused at connect, before any message: (code, reason)."""
    with pytest.raises(ConnectionClosed) as e:
        ws.recv(timeout=5)
    return e.value.rcvd.code, e.value.rcvd.reason


def _rechecks_pass(server, times=2):
    """Wait for `times` complete re-checks of every connection from now."""
    start = server.counters["rechecks"]
    eventually(lambda: server.counters["rechecks"] >= start + times)


def _still_open(ws):
    ws.send(json.dumps({"op": "ping"}))
    return _recv_until(ws, "pong") is not None


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
        assert _refused(ws) == (CLOSE_UNAUTHORIZED, "invalid_token")
    with connect(_url(stream)) as ws:                                   # says nothing: auth times out
        assert _refused(ws) == (CLOSE_UNAUTHORIZED, "missing_token")
    expired, _ = issue_access_token(settings, user_factory()["id"], ["read"], ttl=-1)
    with connect(_url(stream, expired)) as ws:
        assert _refused(ws) == (CLOSE_UNAUTHORIZED, "token_expired")
    user = user_factory()
    token, claims = issue_access_token(settings, user["id"], ["read"])
    revoke_jti(settings, resources.redis, claims["jti"], claims["exp"])
    with connect(_url(stream, token)) as ws:
        assert _refused(ws) == (CLOSE_UNAUTHORIZED, "token_revoked")
    for nobody in (str(uuid.uuid4()), "not-a-user-id"):                 # signed, but no such user
        with connect(_url(stream, issue_access_token(settings, nobody, ["read"])[0])) as ws:
            assert _refused(ws) == (CLOSE_UNAUTHORIZED, "user_inactive")
    for bad in ("not json", json.dumps({"op": "subscribe", "codes": "005930"}), json.dumps({"op": "dance"}),
                json.dumps({"op": "subscribe", "codes": ["x' OR 1"]})):
        with connect(_url(stream, user["token"])) as ws:
            _recv_until(ws, "welcome")
            ws.send(bad)
            assert _closed(ws)[0] == CLOSE_BAD_MESSAGE
    eventually(lambda: stream.counters["refused"] == 10)


def test_logout_elsewhere_closes_an_open_connection_of_that_session(stream, settings, resources, user_factory):
    # The stream holds one access token of a login session; the user logs out with another
    # (another tab): only the session's revocation mark covers the streaming token.
    user = user_factory()
    session = str(uuid.uuid4())
    streaming, _ = issue_access_token(settings, user["id"], ["read"], session_id=session)
    _, other_tab = issue_access_token(settings, user["id"], ["read"], session_id=session)
    bystander, _ = issue_access_token(settings, user["id"], ["read"], session_id=str(uuid.uuid4()))
    with connect(_url(stream, streaming)) as ws, connect(_url(stream, bystander)) as other_session:
        _recv_until(ws, "welcome")
        _recv_until(other_session, "welcome")
        sessions.logout(resources, principal_from_claims(other_tab))
        assert _closed(ws) == (CLOSE_UNAUTHORIZED, "token_revoked")
        _rechecks_pass(stream)
        assert _still_open(other_session)                              # another login of the same user
    with connect(_url(stream, streaming)) as ws:
        assert _refused(ws) == (CLOSE_UNAUTHORIZED, "token_revoked")


def test_disabling_the_user_closes_their_connections_and_refuses_their_tokens(stream, resources, user_factory):
    admin, user, other = user_factory(scopes=("read", "admin")), user_factory(), user_factory()
    with connect(_url(stream, user["token"])) as ws, connect(_url(stream, other["token"])) as bystander:
        _recv_until(ws, "welcome")
        _recv_until(bystander, "welcome")
        users.set_permissions(resources, admin["id"], user["id"], is_active=False)
        assert _closed(ws) == (CLOSE_UNAUTHORIZED, "user_inactive")
        _rechecks_pass(stream)
        assert _still_open(bystander)
    with connect(_url(stream, user["token"])) as ws:                   # issued before, not expired
        assert _refused(ws) == (CLOSE_UNAUTHORIZED, "user_inactive")
    users.set_permissions(resources, admin["id"], user["id"], is_active=True)
    with connect(_url(stream, user["token"])) as ws:
        assert _recv_until(ws, "welcome")


def test_a_connection_ends_when_its_token_expires(stream, settings, user_factory):
    token, claims = issue_access_token(settings, user_factory()["id"], ["read"], ttl=SHORT_TTL)
    with connect(_url(stream, token)) as ws:
        assert _recv_until(ws, "welcome")["expires_at"] == claims["exp"]
        assert _recv_until(ws, "auth_expiring")["expires_at"] == claims["exp"]
        assert _closed(ws) == (CLOSE_UNAUTHORIZED, "token_expired")


def test_a_renewed_connection_outlives_its_first_token_under_the_new_one(stream, settings, resources, user_factory):
    user_id = user_factory()["id"]
    first, first_claims = issue_access_token(settings, user_id, ["read"], ttl=SHORT_TTL)
    with connect(_url(stream, first)) as ws:
        ws.send(json.dumps({"op": "subscribe", "codes": ["005930"]}))
        _recv_until(ws, "auth_expiring")                                # as a client would: renew when told
        fresh, fresh_claims = issue_access_token(settings, user_id, ["read"])
        ws.send(json.dumps({"op": "auth", "token": fresh}))
        assert _recv_until(ws, "authenticated")["expires_at"] == fresh_claims["exp"]
        while _recv_until(ws, "heartbeat")["server_time"] < first_claims["exp"] + 1:
            pass                                                        # past the first token's expiry
        revoke_jti(settings, resources.redis, first_claims["jti"], first_claims["exp"] + 60)
        _rechecks_pass(stream)                                          # the old token no longer matters
        _publish(resources, [("005930", 71_000)])
        assert _recv_until(ws, "tick")["price"] == 71_000               # subscriptions kept
        revoke_jti(settings, resources.redis, fresh_claims["jti"], fresh_claims["exp"])
        assert _closed(ws) == (CLOSE_UNAUTHORIZED, "token_revoked")     # the new one does


@pytest.mark.parametrize("renewal", ["another user", "not-a-token", None])
def test_a_failed_renewal_closes_the_connection(stream, settings, user_factory, renewal):
    user = user_factory()
    token = user_factory()["token"] if renewal == "another user" else renewal
    with connect(_url(stream, user["token"])) as ws:
        _recv_until(ws, "welcome")
        ws.send(json.dumps({"op": "auth", "token": token}))
        reason = {"another user": "wrong_user", "not-a-token": "invalid_token", None: "missing_token"}[renewal]
        assert _closed(ws) == (CLOSE_UNAUTHORIZED, reason)


def test_connections_stay_open_while_their_checks_cannot_run(stream, user_factory, monkeypatch, caplog):
    def redis_down(*args, **kwargs):
        raise redis.ConnectionError("Redis is down")

    with connect(_url(stream, user_factory()["token"])) as ws:
        _recv_until(ws, "welcome")
        before = stream.counters["refused"]
        monkeypatch.setattr(stream_module, "still_standing", redis_down)
        eventually(lambda: "could not re-check" in caplog.text)
        assert _still_open(ws) and stream.counters["refused"] == before
        monkeypatch.undo()
        _rechecks_pass(stream, 1)
        assert _still_open(ws)


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


def test_one_user_cannot_hold_more_than_the_cap_of_connections(resources, user_factory):
    from autostock.market.stream import CLOSE_TOO_MANY_CONNECTIONS
    server = StreamServer(resources, auth_timeout=0.5, heartbeat=0.3, max_per_user=2)
    running = Running(server)
    try:
        eventually(lambda: server.port)
        a, b = user_factory()["token"], user_factory()["token"]
        with connect(_url(server, a)) as first, connect(_url(server, a)) as second:
            _recv_until(first, "welcome")
            _recv_until(second, "welcome")
            with connect(_url(server, a)) as third:
                assert _refused(third) == (CLOSE_TOO_MANY_CONNECTIONS, "too_many_connections")
            with connect(_url(server, b)) as other:                     # another user is not affected
                assert _still_open(other)
            assert _still_open(first) and _still_open(second)
        eventually(lambda: server.per_user == {})                        # both closed: the count is back to zero
        with connect(_url(server, a)) as again:
            assert _still_open(again)
    finally:
        running.stop()
