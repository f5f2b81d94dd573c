"""stream: the browsers' realtime feed at `/ws/market` (websockets), fed by NATS `ticks.<code>`.

Protocol (JSON text frames):
  auth      the access token as `?token=...`, an `Authorization: Bearer` header, or the first
            message `{"op": "auth", "token": "..."}` within AUTH_TIMEOUT seconds. It is checked
            as the REST API checks it (signature, issuer, audience, expiry; neither the token nor
            its login session revoked; the user active), without counting against the API rate
            limit or quota, and re-checked every heartbeat interval for as long as the
            connection lives: a logout, a revoked session or a disabled user closes it.
  renewal   the connection ends when its token expires; EXPIRY_WARNING seconds before, the
            server sends {"type": "auth_expiring", "expires_at"}. The client keeps it open by
            sending {"op": "auth", "token": "<a newer access token of the same user>"} at any time
            before then → {"type": "authenticated", "expires_at"}; from then on that token's
            expiry and revocation apply. A token that fails the checks, or is another user's,
            closes the connection (4001).
  client →  {"op": "subscribe", "codes": ["005930", ...]} · {"op": "unsubscribe", "codes": [...]}
            · {"op": "ping"} · {"op": "auth", "token": "..."}
  server →  {"type": "welcome", "max_codes": 50, "expires_at"} · {"type": "subscribed", "codes": [...]}
            · {"type": "tick", "code", "price", "volume", "at"} · {"type": "heartbeat", "at"}
            · {"type": "pong"} · {"type": "error", "code", "message"} (over the cap; nothing changes)
            · {"type": "auth_expiring", "expires_at"} · {"type": "authenticated", "expires_at"}
            (`expires_at`: the token's expiry, Unix seconds)
  close codes (documented in docs/market-data.md and the OpenAPI x-websocket section):
            4001 unauthorized; the reason says why: missing_token (none, or none in time),
                 invalid_token, token_expired, token_revoked (logout, the session revoked),
                 user_inactive (disabled or deleted), wrong_user (a renewal with another
                 user's token)
            4002 bad message (not JSON, unknown op, codes not a list of stock codes)
            1011 the token could not be checked (Redis or PostgreSQL unavailable): retry later
            1001 the server is shutting down

A client that reads slowly gets the latest tick per code: each connection keeps at most one
pending message per subscribed code (so at most MAX_CODES), never a queue that grows. The
websocket write buffer is bounded by `write_limit`; while it is full the pending values are
overwritten, not appended.

The checks are the synchronous ones of `autostock.auth`, run in a worker thread
(`asyncio.to_thread`). A re-check covers every connection in one call: one Redis MGET of the
users' cached standings and the tokens' revocation marks, plus one query for the users whose
standing is not cached (at most every 30 s). If Redis or PostgreSQL fail during a re-check,
the connections stay open until the next one; their tokens' expiry still ends them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import nats
import psycopg
import redis
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from autostock.auth import Principal, still_standing, verify_access_token
from autostock.config import Settings
from autostock.errors import AuthError
from autostock.events import TICKS
from autostock.market.calendar import SEOUL
from autostock.market.probe import render_metrics
from autostock.resources import Resources

log = logging.getLogger("autostock.stream")

PATH = "/ws/market"
MAX_CODES = 50
AUTH_TIMEOUT = 5.0
HEARTBEAT_SECONDS = 15.0
EXPIRY_WARNING = 60.0
WRITE_LIMIT = 64 * 1024
CLOSE_UNAUTHORIZED, CLOSE_BAD_MESSAGE, CLOSE_TOO_MANY_CONNECTIONS = 4001, 4002, 4003
_CODE = re.compile(r"^[0-9A-Z]{6}$")


@dataclass(eq=False)
class Client:
    conn: ServerConnection
    principal: Principal              # the token in force; a renewal replaces it
    codes: set[str] = field(default_factory=set)
    pending: dict[str, str] = field(default_factory=dict)   # code → latest unsent tick message
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    coalesced: int = 0
    sent: int = 0
    expiry: asyncio.Task[None] | None = None


class StreamServer:
    def __init__(self, resources: Resources, *, host: str = "127.0.0.1", port: int = 0,
                 heartbeat: float = HEARTBEAT_SECONDS, expiry_warning: float = EXPIRY_WARNING,
                 write_limit: int = WRITE_LIMIT, auth_timeout: float = AUTH_TIMEOUT,
                 max_per_user: int | None = None) -> None:
        self.resources = resources
        # Connections one user may hold at once (STREAM_MAX_CONNECTIONS_PER_USER unless given).
        self.max_per_user = (max_per_user if max_per_user is not None
                             else resources.settings.stream_max_connections_per_user)
        self.per_user: Counter[str] = Counter()   # open connections of each user
        self.settings = resources.settings
        self.auth_timeout = auth_timeout
        self.expiry_warning = expiry_warning
        self.host, self.port = host, port
        self.heartbeat = heartbeat
        self.write_limit = write_limit
        self.clients: set[Client] = set()
        self.by_code: dict[str, set[Client]] = {}
        self.counters = {"ticks_in": 0, "messages_out": 0, "coalesced": 0, "refused": 0, "rechecks": 0}
        self._stop = asyncio.Event()
        self._server: Server | None = None
        self.ready = asyncio.Event()

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        self._stop = asyncio.Event()
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
            rechecks = asyncio.ensure_future(self._recheck_forever())
            await self._stop.wait()
            rechecks.cancel()
            server.close(close_connections=True)   # 1001 going away
            await server.wait_closed()
        await nc.drain()

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
                                      self.counters["refused"]),
                p + "rechecks_total": ("counter", "batched re-checks of every connection's token and user",
                                       self.counters["rechecks"])}

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
        principal = await self._authenticate(conn)
        if principal is None:
            return
        # Counted on the loop's one thread, with no await between the check and the count.
        if self.per_user[principal.user_id] >= self.max_per_user:
            await self._close(conn, CLOSE_TOO_MANY_CONNECTIONS, "too_many_connections")
            return
        self.per_user[principal.user_id] += 1
        client = Client(conn, principal)
        self.clients.add(client)
        self._watch_expiry(client)
        tasks = [asyncio.ensure_future(self._writer(client)), asyncio.ensure_future(self._heartbeats(client))]
        try:
            await conn.send(json.dumps({"type": "welcome", "max_codes": MAX_CODES,
                                        "expires_at": principal.expires_at}))
            async for raw in conn:
                if not await self._on_message(client, raw):
                    break
        except ConnectionClosed:
            pass
        finally:
            tasks += [client.expiry] if client.expiry else []
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._drop(client)

    async def _authenticate(self, conn: ServerConnection) -> Principal | None:
        token = _token_from_request(conn)
        if token is None:
            try:
                first = await asyncio.wait_for(conn.recv(), self.auth_timeout)
                msg = json.loads(first)
                token = msg.get("token") if isinstance(msg, dict) and msg.get("op") == "auth" else None
            except (TimeoutError, ValueError, ConnectionClosed):
                token = None
        try:
            return await self._verify(token)
        except AuthError as e:
            await self._close(conn, CLOSE_UNAUTHORIZED, e.code)
            return None

    async def _verify(self, token: object) -> Principal:
        """The principal of `token` after the REST API's checks (AuthError otherwise)."""
        if not isinstance(token, str) or not token:
            raise AuthError("an access token is required", code="missing_token")
        return await asyncio.to_thread(verify_access_token, self.resources, token)

    async def _renew(self, client: Client, token: object) -> bool:
        """`{"op": "auth"}` on an open connection: a newer token of the same user takes over."""
        try:
            principal = await self._verify(token)
            if principal.user_id != client.principal.user_id:
                raise AuthError("a renewal must be for the same user", code="wrong_user")
        except AuthError as e:
            await self._close(client.conn, CLOSE_UNAUTHORIZED, e.code)
            return False
        client.principal = principal
        self._watch_expiry(client)
        await client.conn.send(json.dumps({"type": "authenticated", "expires_at": principal.expires_at}))
        return True

    def _watch_expiry(self, client: Client) -> None:
        if client.expiry is not None:
            client.expiry.cancel()
        client.expiry = asyncio.ensure_future(self._expire(client, client.principal.expires_at))

    async def _expire(self, client: Client, expires_at: int) -> None:
        """Warn the client `expiry_warning` seconds before its token expires; close when it does."""
        await asyncio.sleep(max(0.0, expires_at - self.expiry_warning - time.time()))
        await client.conn.send(json.dumps({"type": "auth_expiring", "expires_at": expires_at}))
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self._close(client.conn, CLOSE_UNAUTHORIZED, "token_expired")

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.recheck()

    async def recheck(self) -> None:
        """Close the connections whose token or session was revoked, or whose user was disabled,
        since the last check: one batched check (`still_standing`) for all of them."""
        clients = list(self.clients)
        if not clients:
            return
        principals = [c.principal for c in clients]
        try:
            problems = await asyncio.to_thread(still_standing, self.resources, principals)
        except (redis.RedisError, psycopg.Error) as e:
            log.warning("stream: could not re-check %d connections, kept open until the next try: %s",
                        len(clients), e)
            return
        await asyncio.gather(*(self._close(c.conn, CLOSE_UNAUTHORIZED, problem.code)
                               for c, checked, problem in zip(clients, principals, problems)
                               if problem is not None and c.principal is checked))  # else renewed meanwhile
        self.counters["rechecks"] += 1

    async def _close(self, conn: ServerConnection, code: int, reason: str) -> None:
        self.counters["refused"] += 1
        await conn.close(code, reason)

    async def _on_message(self, client: Client, raw: str | bytes) -> bool:
        """Apply one client message; False means it closed the connection (a malformed message,
        a failed renewal)."""
        try:
            msg = json.loads(raw)
            op = msg["op"]
        except (ValueError, TypeError, KeyError):
            await self._close(client.conn, CLOSE_BAD_MESSAGE, "message must be JSON with an op")
            return False
        if op == "ping":
            await client.conn.send('{"type":"pong"}')
            return True
        if op == "auth":
            return await self._renew(client, msg.get("token"))
        codes = msg.get("codes")
        if op not in ("subscribe", "unsubscribe") or not isinstance(codes, list) or not all(
                isinstance(c, str) and _CODE.match(c) for c in codes):
            await self._close(client.conn, CLOSE_BAD_MESSAGE, "unknown op or codes not a list of stock codes")
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
        user = client.principal.user_id
        self.per_user[user] -= 1
        if self.per_user[user] <= 0:
            del self.per_user[user]

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
    resources = Resources.open(settings)
    server = StreamServer(resources, host=settings.stream_host, port=settings.stream_port)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.run()

    try:
        asyncio.run(main())
    finally:
        resources.close()
    return 0


__all__ = ["CLOSE_BAD_MESSAGE", "CLOSE_TOO_MANY_CONNECTIONS", "CLOSE_UNAUTHORIZED", "MAX_CODES", "PATH",
           "StreamServer", "serve_forever"]
