"""stream: the browsers' realtime feed at `/ws/market` (websockets), fed by NATS `ticks.<code>`.

Protocol (JSON text frames):
  auth      the access token as `?token=...`, an `Authorization: Bearer` header, or the first
            message `{"op": "auth", "token": "..."}` within AUTH_TIMEOUT seconds.
  client →  {"op": "subscribe", "codes": ["005930", ...]} · {"op": "unsubscribe", "codes": [...]}
            · {"op": "ping"}
  server →  {"type": "welcome", "max_codes": 50} · {"type": "subscribed", "codes": [...]}
            · {"type": "tick", "code", "price", "volume", "at"} · {"type": "heartbeat", "at"}
            · {"type": "pong"} · {"type": "error", "code", "message"} (over the cap; nothing changes)
  close codes (documented in docs/api and OpenAPI x-websocket):
            4001 unauthorized (missing, invalid, expired or revoked token; no auth in time)
            4002 bad message (not JSON, unknown op, codes not a list of stock codes)
            1001 the server is shutting down

A client that reads slowly gets the latest tick per code: each connection keeps at most one
pending message per subscribed code (so at most MAX_CODES), never a queue that grows. The
websocket write buffer is bounded by `write_limit`; while it is full the pending values are
overwritten, not appended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import nats
import redis.asyncio as aioredis
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from autostock.auth.tokens import decode_access_token
from autostock.config import Settings
from autostock.errors import AuthError
from autostock.events import TICKS
from autostock.market.calendar import SEOUL
from autostock.market.probe import render_metrics

log = logging.getLogger("autostock.stream")

PATH = "/ws/market"
MAX_CODES = 50
AUTH_TIMEOUT = 5.0
HEARTBEAT_SECONDS = 15.0
WRITE_LIMIT = 64 * 1024
CLOSE_UNAUTHORIZED, CLOSE_BAD_MESSAGE = 4001, 4002
_CODE = re.compile(r"^[0-9A-Z]{6}$")


@dataclass(eq=False)
class Client:
    conn: ServerConnection
    user_id: str
    codes: set[str] = field(default_factory=set)
    pending: dict[str, str] = field(default_factory=dict)   # code → latest unsent tick message
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    coalesced: int = 0
    sent: int = 0


class StreamServer:
    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0,
                 heartbeat: float = HEARTBEAT_SECONDS, write_limit: int = WRITE_LIMIT,
                 auth_timeout: float = AUTH_TIMEOUT) -> None:
        self.settings = settings
        self.auth_timeout = auth_timeout
        self.host, self.port = host, port
        self.heartbeat = heartbeat
        self.write_limit = write_limit
        self.clients: set[Client] = set()
        self.by_code: dict[str, set[Client]] = {}
        self.counters = {"ticks_in": 0, "messages_out": 0, "coalesced": 0, "refused": 0}
        self._stop = asyncio.Event()
        self._server: Server | None = None
        self._redis: aioredis.Redis | None = None
        self.ready = asyncio.Event()

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        self._stop = asyncio.Event()
        self._redis = aioredis.Redis.from_url(self.settings.redis_url.reveal(), decode_responses=True)
        nc = await nats.connect(self.settings.nats_url, max_reconnect_attempts=-1, connect_timeout=2)
        prefix = self.settings.subject(TICKS, "")

        async def on_message(msg: Any) -> None:
            self._on_tick(msg.subject[len(prefix):], msg.data)

        await nc.subscribe(prefix + ">", cb=on_message)
        async with serve(self._handle, self.host, self.port, process_request=self._http,
                         write_limit=self.write_limit, ping_interval=20, ping_timeout=20,
                         max_size=16 * 1024) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self._stop.wait()
            server.close(close_connections=True)   # 1001 going away
            await server.wait_closed()
        await nc.drain()
        await self._redis.aclose()

    def stop(self) -> None:
        self._stop.set()

    # ---- HTTP side: health and metrics on the same port ----------------------------------
    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == PATH:
            return None
        if path == "/healthz":
            body = json.dumps({"ok": True, "connections": len(self.clients)})
            return Response(200, "OK", Headers({"Content-Type": "application/json"}), body.encode())
        if path == "/metrics":
            return conn.respond(HTTPStatus.OK, render_metrics(self.metrics()))
        return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        p = "autostock_stream_"
        return {p + "connections": ("gauge", "authenticated websocket clients", len(self.clients)),
                p + "subscriptions": ("gauge", "code subscriptions over all clients",
                                      sum(len(c.codes) for c in self.clients)),
                p + "ticks_in_total": ("counter", "ticks received from NATS", self.counters["ticks_in"]),
                p + "messages_out_total": ("counter", "tick messages sent", self.counters["messages_out"]),
                p + "coalesced_total": ("counter", "ticks replaced by a newer one before a slow client read them",
                                        self.counters["coalesced"]),
                p + "refused_total": ("counter", "connections closed for auth or bad messages",
                                      self.counters["refused"])}

    # ---- NATS side -----------------------------------------------------------------------
    def _on_tick(self, code: str, data: bytes) -> None:
        self.counters["ticks_in"] += 1
        clients = self.by_code.get(code)
        if not clients:
            return
        try:
            body = json.loads(data)
        except ValueError:
            return
        message = json.dumps({"type": "tick", "code": code, "price": body.get("price"),
                              "volume": body.get("volume"), "at": body.get("at")}, separators=(",", ":"))
        for client in clients:
            if code in client.pending:
                client.coalesced += 1
                self.counters["coalesced"] += 1
            client.pending[code] = message
            client.wake.set()

    # ---- one connection ------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        user_id = await self._authenticate(conn)
        if user_id is None:
            self.counters["refused"] += 1
            return
        client = Client(conn, user_id)
        self.clients.add(client)
        tasks = [asyncio.ensure_future(self._writer(client)), asyncio.ensure_future(self._heartbeats(client))]
        try:
            await conn.send(json.dumps({"type": "welcome", "max_codes": MAX_CODES}))
            async for raw in conn:
                if not await self._on_message(client, raw):
                    self.counters["refused"] += 1
                    break
        except ConnectionClosed:
            pass
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._drop(client)

    async def _authenticate(self, conn: ServerConnection) -> str | None:
        token = _token_from_request(conn)
        if token is None:
            try:
                first = await asyncio.wait_for(conn.recv(), self.auth_timeout)
                msg = json.loads(first)
                token = msg.get("token") if isinstance(msg, dict) and msg.get("op") == "auth" else None
            except (TimeoutError, ValueError, ConnectionClosed):
                token = None
        try:
            if not isinstance(token, str) or not token:
                raise AuthError("an access token is required")
            claims = decode_access_token(self.settings, token)
            assert self._redis is not None
            if await self._redis.exists(self.settings.redis_key("revoked", claims["jti"])):
                raise AuthError("access token has been revoked")
        except AuthError as e:
            await conn.close(CLOSE_UNAUTHORIZED, e.code)
            return None
        return str(claims["sub"])

    async def _on_message(self, client: Client, raw: str | bytes) -> bool:
        """Apply one client message; False means it was malformed (the connection closes)."""
        try:
            msg = json.loads(raw)
            op = msg["op"]
        except (ValueError, TypeError, KeyError):
            await client.conn.close(CLOSE_BAD_MESSAGE, "message must be JSON with an op")
            return False
        if op == "ping":
            await client.conn.send('{"type":"pong"}')
            return True
        codes = msg.get("codes")
        if op not in ("subscribe", "unsubscribe") or not isinstance(codes, list) or not all(
                isinstance(c, str) and _CODE.match(c) for c in codes):
            await client.conn.close(CLOSE_BAD_MESSAGE, "unknown op or codes not a list of stock codes")
            return False
        if op == "subscribe":
            wanted = client.codes | set(codes)
            if len(wanted) > MAX_CODES:
                await client.conn.send(json.dumps({"type": "error", "code": "too_many_codes",
                                                   "message": f"at most {MAX_CODES} codes per connection"}))
                return True
            for code in set(codes) - client.codes:
                self.by_code.setdefault(code, set()).add(client)
            client.codes = wanted
        else:
            for code in set(codes) & client.codes:
                self._unsubscribe(client, code)
        await client.conn.send(json.dumps({"type": "subscribed", "codes": sorted(client.codes)}))
        return True

    def _unsubscribe(self, client: Client, code: str) -> None:
        client.codes.discard(code)
        client.pending.pop(code, None)
        subs = self.by_code.get(code)
        if subs is not None:
            subs.discard(client)
            if not subs:
                del self.by_code[code]

    def _drop(self, client: Client) -> None:
        for code in list(client.codes):
            self._unsubscribe(client, code)
        self.clients.discard(client)

    async def _writer(self, client: Client) -> None:
        while True:
            await client.wake.wait()
            client.wake.clear()
            while client.pending:
                # Take one at a time: while a send waits on a full buffer, newer ticks replace
                # the pending ones instead of queueing behind them.
                code = next(iter(client.pending))
                message = client.pending.pop(code)
                await client.conn.send(message)
                client.sent += 1
                self.counters["messages_out"] += 1

    async def _heartbeats(self, client: Client) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await client.conn.send(json.dumps({"type": "heartbeat", "at": dt.datetime.now(SEOUL).isoformat(),
                                               "server_time": time.time()}))


def _token_from_request(conn: ServerConnection) -> str | None:
    request = conn.request
    if request is None:
        return None
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    _, _, query = request.path.partition("?")
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name in ("token", "access_token") and value:
            return value
    return None


def serve_forever(settings: Settings) -> int:
    """`autostock stream`: run until SIGINT/SIGTERM."""
    import signal
    server = StreamServer(settings, host=settings.stream_host, port=settings.stream_port)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.run()

    asyncio.run(main())
    return 0


__all__ = ["CLOSE_BAD_MESSAGE", "CLOSE_UNAUTHORIZED", "MAX_CODES", "PATH", "StreamServer", "serve_forever"]
