"""KIS realtime session (asyncio): subscribe/unsubscribe with an approval key, PINGPONG echo,
execution-notice keys kept per TR, frames parsed by `kis.frames`.

    async with KisStream(settings.kis_ws_url, approval_key) as stream:
        await stream.subscribe(frames.TRADE_TR, "005930")
        async for event in stream.events():
            ...   # StreamEvent(kind="trades", tr_id, items=[TradeTick, ...], text)

A dropped connection ends `events()` with `BrokerUnavailable`; the caller reconnects and calls
`resubscribe()` (the stream remembers what it subscribed). Reconnect storms get a KIS appkey
blocked (§1.8), so back off between attempts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, NamedTuple

import websockets
from websockets.asyncio.client import ClientConnection, connect

from autostock.brokers.kis import frames
from autostock.errors import BrokerRejected, BrokerUnavailable

SUBSCRIBE, UNSUBSCRIBE = "1", "2"
_OK_CODES = {"OPSP0000", "OPSP0001", "OPSP0002"}  # subscribed, unsubscribed, already subscribed


class StreamEvent(NamedTuple):
    kind: str            # "trades" | "book" | "notices" | "frame" (a TR without a typed parser)
    tr_id: str
    items: list[Any]
    text: str


def subscribe_message(approval_key: str, tr_id: str, tr_key: str, tr_type: str = SUBSCRIBE,
                      custtype: str = "P") -> str:
    return json.dumps({"header": {"approval_key": approval_key, "custtype": custtype, "tr_type": tr_type,
                                  "content-type": "utf-8"},
                       "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}})


class KisStream:
    """One websocket session per appkey (KIS refuses a second with OPSP8996)."""

    def __init__(self, url: str, approval_key: str, *, custtype: str = "P", reply_timeout: float = 10.0) -> None:
        self.url = url
        self._approval_key = approval_key
        self.custtype = custtype
        self.reply_timeout = reply_timeout
        self.subscribed: set[tuple[str, str]] = set()
        self.ciphers: dict[str, tuple[str, str]] = {}     # tr_id → (key, iv) from the subscribe reply
        self._conn: ClientConnection | None = None
        self._pending: dict[tuple[str, str], asyncio.Future] = {}
        self._queue: asyncio.Queue = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> KisStream:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        try:
            self._conn = await connect(self.url, ping_interval=None, max_size=2**22)
        except (OSError, websockets.WebSocketException) as e:
            raise BrokerUnavailable("KIS realtime connection failed", details={"url": self.url}) from e
        self._queue = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def subscribe(self, tr_id: str, tr_key: str) -> dict[str, Any]:
        reply = await self._request(tr_id, tr_key, SUBSCRIBE)
        self.subscribed.add((tr_id, tr_key))
        return reply

    async def unsubscribe(self, tr_id: str, tr_key: str) -> dict[str, Any]:
        reply = await self._request(tr_id, tr_key, UNSUBSCRIBE)
        self.subscribed.discard((tr_id, tr_key))
        return reply

    async def resubscribe(self) -> None:
        for tr_id, tr_key in sorted(self.subscribed):
            await self._request(tr_id, tr_key, SUBSCRIBE)

    async def _request(self, tr_id: str, tr_key: str, tr_type: str) -> dict[str, Any]:
        if self._conn is None:
            raise BrokerUnavailable("KIS realtime stream is not connected")
        future = asyncio.get_running_loop().create_future()
        self._pending[(tr_id, tr_key)] = future
        try:
            await self._conn.send(subscribe_message(self._approval_key, tr_id, tr_key, tr_type, self.custtype))
            reply = await asyncio.wait_for(future, self.reply_timeout)
        except (TimeoutError, websockets.WebSocketException) as e:
            raise BrokerUnavailable("KIS realtime did not answer a subscription",
                                    details={"tr_id": tr_id}) from e
        finally:
            self._pending.pop((tr_id, tr_key), None)
        if reply["msg_cd"] not in _OK_CODES:
            raise BrokerRejected(reply["msg1"] or "subscription refused",
                                 details={"msg_cd": reply["msg_cd"], "tr_id": tr_id})
        return reply

    async def _read(self) -> None:
        assert self._conn is not None
        try:
            async for message in self._conn:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                if frames.is_control(text):
                    await self._on_control(text)
                else:
                    self._queue.put_nowait(text)
        except websockets.WebSocketException:
            pass
        finally:
            self._queue.put_nowait(None)

    async def _on_control(self, text: str) -> None:
        reply = frames.parse_control(text)
        if reply["tr_id"] == "PINGPONG":
            assert self._conn is not None
            await self._conn.send(text)  # KIS expects the same text back
            return
        if reply["key"] and reply["iv"]:
            self.ciphers[reply["tr_id"]] = (reply["key"], reply["iv"])
        future = self._pending.get((reply["tr_id"], reply["tr_key"]))
        if future is not None and not future.done():
            future.set_result(reply)

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Parsed data frames until the connection ends (then BrokerUnavailable)."""
        while True:
            text = await self._queue.get()
            if text is None:
                raise BrokerUnavailable("KIS realtime connection closed")
            yield self.parse(text)

    def parse(self, text: str) -> StreamEvent:
        frame = frames.split_frame(text)
        if frame.tr_id == frames.TRADE_TR:
            return StreamEvent("trades", frame.tr_id, frames.parse_trades(text), text)
        if frame.tr_id == frames.BOOK_TR:
            return StreamEvent("book", frame.tr_id, frames.parse_book(text), text)
        if frame.tr_id in (frames.NOTICE_TR_REAL, frames.NOTICE_TR_PAPER):
            key, iv = self.ciphers.get(frame.tr_id, ("", ""))
            return StreamEvent("notices", frame.tr_id, frames.parse_notices(text, key, iv), text)
        return StreamEvent("frame", frame.tr_id, [frame.payload], text)
