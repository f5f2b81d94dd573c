"""KIS realtime websocket simulator (docs/brokers.md §1.8).

Speaks the subscribe JSON (`approval_key`, `tr_type` 1/2), control replies with OPSP codes,
pipe/caret data frames with a 3-digit count (several records per frame via `push_trades`),
PINGPONG, and AES-256-CBC execution notices (H0STCNI0 real / H0STCNI9 paper) with the key/iv
handed out at subscribe. One session per appkey; at most 41 registrations per session.

Server-side API for tests and the tick collector: `push_trades`, `push_book`, `push_text`,
`send_pingpong`, `kill_connections`, `subscriptions`, `received`. Exchange trades, quote
changes and order events are pushed automatically to whoever subscribed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from autostock.brokers.kis import frames
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import SEOUL
from autostock.brokers.sim.records import Instrument, SimFill, SimOrder

MAX_REGISTRATIONS = 41  # KIS notice of 2025-08-07 (§1.8, secondary source)


@dataclass
class _Session:
    conn: ServerConnection
    queue: asyncio.Queue
    appkey: str = ""
    subs: set[tuple[str, str]] = field(default_factory=set)
    ciphers: dict[str, tuple[str, str]] = field(default_factory=dict)  # tr_id → (key, iv)
    pongs: int = 0
    pings_unanswered: int = 0


def _control(tr_id: str, tr_key: str, rt_cd: str, msg_cd: str, msg1: str,
             output: dict[str, str] | None = None, encrypt: str = "N") -> str:
    body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}
    if output:
        body["output"] = output
    return json.dumps({"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt}, "body": body})


class KisWebsocketSim:
    """One KIS realtime endpoint (real or paper) on 127.0.0.1, backed by `exchange`."""

    def __init__(self, exchange: Exchange, *, paper: bool = False, seed: int = 0,
                 max_registrations: int = MAX_REGISTRATIONS, host: str = "127.0.0.1", port: int = 0,
                 ping_interval: float | None = None, missed_pings: int = 2) -> None:
        """`ping_interval`: send PINGPONG that often (KIS: about 110 s, §1.8; None = only on
        `send_pingpong`). A client that leaves `missed_pings` in a row unanswered is dropped
        (KIS's own timeout is unconfirmed)."""
        self.exchange = exchange
        self.ping_interval = ping_interval
        self.missed_pings = missed_pings
        self.paper = paper
        self.notice_tr = frames.NOTICE_TR_PAPER if paper else frames.NOTICE_TR_REAL
        self.max_registrations = max_registrations
        self.approvals: dict[str, str] = {}     # approval_key → appkey (the REST sim fills it)
        self.hts_ids: dict[str, str] = {}       # HTS user id → exchange account id
        self.received: list[str] = []
        self.sent: list[str] = []
        self._rng = random.Random(seed)
        self._host, self._port = host, port
        self._sessions: list[_Session] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        exchange.listen(self._on_exchange)

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> KisWebsocketSim:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._open())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="kis-ws-sim", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _open(self) -> None:
        self._server = await serve(self._handle, self._host, self._port, ping_interval=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://{self._host}:{port}"
        if self.ping_interval:
            asyncio.ensure_future(self._pinger())

    async def _pinger(self) -> None:
        assert self.ping_interval
        while True:
            await asyncio.sleep(self.ping_interval)
            self._ping_all()

    def stop(self) -> None:
        if self._loop is None:
            return
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn, *args)

    # ---- server-side API ----------------------------------------------------------------
    def subscriptions(self) -> set[tuple[str, str]]:
        return {s for sess in list(self._sessions) for s in sess.subs}

    @property
    def connection_count(self) -> int:
        return len(self._sessions)

    def pong_count(self) -> int:
        return sum(s.pongs for s in list(self._sessions))

    def push_text(self, text: str, *, tr_id: str | None = None, tr_key: str | None = None) -> None:
        """Send raw text to every session (or to those subscribed to (tr_id, tr_key))."""
        self._call(self._broadcast, text, tr_id, tr_key)

    def push_trades(self, symbol: str, ticks: Sequence[Mapping[str, Any]]) -> str:
        """One H0STCNT0 frame with a record per tick; a tick's keys override the fields the
        exchange's state gives (column names from `frames.TRADE_COLUMNS`)."""
        inst = self.exchange.instrument(symbol)
        rows = [self._trade_row(inst, int(t.get("STCK_PRPR", inst.last)), int(t.get("CNTG_VOL", 1)), t)
                for t in ticks]
        text = frames.build_frame(frames.TRADE_TR, rows)
        self.push_text(text, tr_id=frames.TRADE_TR, tr_key=symbol)
        return text

    def push_book(self, symbol: str, overrides: Mapping[str, Any] | None = None) -> str:
        text = frames.build_frame(frames.BOOK_TR, [self._book_row(symbol, overrides or {})])
        self.push_text(text, tr_id=frames.BOOK_TR, tr_key=symbol)
        return text

    def send_pingpong(self) -> str:
        text = self._ping_text()
        self._call(self._ping_all, text)
        return text

    def _ping_text(self) -> str:
        stamp = self.exchange.clock.now().astimezone(SEOUL).strftime("%Y%m%d%H%M%S")
        return json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}})

    def _ping_all(self, text: str | None = None) -> None:
        text = text or self._ping_text()
        for s in list(self._sessions):
            if s.pings_unanswered >= self.missed_pings:
                s.conn.transport.abort()   # never echoed: KIS drops such clients
                continue
            s.pings_unanswered += 1
            s.queue.put_nowait(text)

    def kill_connections(self) -> None:
        """Drop every client abruptly (no close handshake), as a network failure would."""
        def kill() -> None:
            for s in list(self._sessions):
                s.conn.transport.abort()
        self._call(kill)

    # ---- connection handling ------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        session = _Session(conn, asyncio.Queue())
        self._sessions.append(session)
        writer = asyncio.ensure_future(self._write(session))
        try:
            async for message in conn:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.received.append(text)
                if not self._on_message(session, text):
                    break
        except Exception:  # noqa: BLE001 - a dropped client ends its session, nothing else
            pass
        finally:
            self._sessions.remove(session)
            await session.queue.put(None)
            await asyncio.gather(writer, return_exceptions=True)

    async def _write(self, session: _Session) -> None:
        while (text := await session.queue.get()) is not None:
            try:
                await session.conn.send(text)
            except Exception:  # noqa: BLE001 - the reader side notices the closed socket
                return
            self.sent.append(text)

    def _reply(self, session: _Session, text: str) -> None:
        session.queue.put_nowait(text)

    def _broadcast(self, text: str, tr_id: str | None, tr_key: str | None) -> None:
        for s in self._sessions:
            if tr_id is None or (tr_id, tr_key) in s.subs:
                s.queue.put_nowait(text)

    def _on_message(self, session: _Session, text: str) -> bool:
        """Handle one client message; False closes the session."""
        try:
            msg = json.loads(text)
            header = msg["header"]
            if header.get("tr_id") == "PINGPONG":
                session.pongs += 1
                session.pings_unanswered = 0
                return True
            key, tr_type = header["approval_key"], str(header["tr_type"])
            tr_id, tr_key = msg["body"]["input"]["tr_id"], str(msg["body"]["input"]["tr_key"])
        except (ValueError, KeyError, TypeError, AttributeError):
            self._reply(session, _control("", "", "9", "OPSP9999", "JSON PARSING ERROR : invalid json"))
            return True
        appkey = self.approvals.get(key)
        if appkey is None:  # msg_cd for an unknown key is unconfirmed (§6)
            self._reply(session, _control(tr_id, tr_key, "9", "OPSP0011", "invalid approval : NOT FOUND"))
            return True
        if not session.appkey:
            if any(s.appkey == appkey for s in self._sessions if s is not session):
                self._reply(session, _control(tr_id, tr_key, "1", "OPSP8996", "ALREADY IN USE appkey"))
                return False
            session.appkey = appkey
        if tr_type == "2":
            return self._unsubscribe(session, tr_id, tr_key)
        return self._subscribe(session, tr_id, tr_key)

    def _subscribe(self, session: _Session, tr_id: str, tr_key: str) -> bool:
        pair = (tr_id, tr_key)
        if tr_id in (frames.NOTICE_TR_REAL, frames.NOTICE_TR_PAPER) and tr_id != self.notice_tr:
            self._reply(session, _control(tr_id, tr_key, "1", "OPSP0007", "invalid tr_id for this server"))
        elif pair in session.subs:
            self._reply(session, _control(tr_id, tr_key, "1", "OPSP0002", "ALREADY IN SUBSCRIBE"))
        elif len(session.subs) >= self.max_registrations:
            self._reply(session, _control(tr_id, tr_key, "1", "OPSP0008", "MAX SUBSCRIBE OVER"))
        else:
            session.subs.add(pair)
            cipher = session.ciphers.setdefault(tr_id, self._new_cipher())
            encrypt = "Y" if tr_id == self.notice_tr else "N"
            self._reply(session, _control(tr_id, tr_key, "0", "OPSP0000", "SUBSCRIBE SUCCESS",
                                          {"iv": cipher[1], "key": cipher[0]}, encrypt))
        return True

    def _unsubscribe(self, session: _Session, tr_id: str, tr_key: str) -> bool:
        if (tr_id, tr_key) in session.subs:
            session.subs.discard((tr_id, tr_key))
            self._reply(session, _control(tr_id, tr_key, "0", "OPSP0001", "UNSUBSCRIBE SUCCESS"))
        else:
            self._reply(session, _control(tr_id, tr_key, "1", "OPSP0003", "UNSUBSCRIBE ERROR(not found!)"))
        return True

    def _new_cipher(self) -> tuple[str, str]:
        alphabet = string.ascii_letters + string.digits
        key = "".join(self._rng.choice(alphabet) for _ in range(32))
        iv = "".join(self._rng.choice(alphabet) for _ in range(16))
        return key, iv

    # ---- exchange events → frames -------------------------------------------------------
    def _on_exchange(self, event: str, data: dict[str, Any]) -> None:
        if self._loop is None:
            return
        if event == "trade":
            inst = self.exchange.instruments[data["symbol"]]
            row = self._trade_row(inst, data["price"], data["quantity"],
                                  {"CCLD_DVSN": "1" if data["side"] == "buy" else "5"})
            self.push_text(frames.build_frame(frames.TRADE_TR, [row]), tr_id=frames.TRADE_TR, tr_key=inst.symbol)
        elif event == "quote":
            symbol = data["symbol"]
            self.push_text(frames.build_frame(frames.BOOK_TR, [self._book_row(symbol, {})]),
                           tr_id=frames.BOOK_TR, tr_key=symbol)
        elif event in ("order", "fill"):
            self._notice(data["order"], data.get("fill"))

    def _notice(self, order: SimOrder, fill: SimFill | None) -> None:
        hts = [h for h, acct in self.hts_ids.items() if acct == order.account_id]
        if not hts:
            return
        row = notice_row(order, fill, hts[0], self.exchange.clock.now())
        plain = "^".join(row)

        def send() -> None:
            for s in self._sessions:
                if (self.notice_tr, hts[0]) in s.subs:
                    key, iv = s.ciphers[self.notice_tr]
                    s.queue.put_nowait(f"1|{self.notice_tr}|001|{frames.encrypt(plain, key, iv)}")
        self._call(send)

    def _trade_row(self, inst: Instrument, price: int, quantity: int, overrides: Mapping[str, Any]) -> list[str]:
        now = self.exchange.clock.now().astimezone(SEOUL)
        lower, upper = inst.limits
        change = price - inst.prev_close
        sign = "1" if price >= upper else "4" if price <= lower else "2" if change > 0 else "5" if change < 0 else "3"
        ask, ask_qty = self.exchange.best(inst.symbol, "sell")
        bid, bid_qty = self.exchange.best(inst.symbol, "buy")
        values: dict[str, Any] = dict.fromkeys(frames.TRADE_COLUMNS, "0")
        values.update({
            "MKSC_SHRN_ISCD": inst.symbol, "STCK_CNTG_HOUR": now.strftime("%H%M%S"), "STCK_PRPR": price,
            "PRDY_VRSS_SIGN": sign, "PRDY_VRSS": change,
            "PRDY_CTRT": f"{change * 100 / inst.prev_close:.2f}",
            "WGHN_AVRG_STCK_PRC": inst.value // max(1, inst.volume),
            "STCK_OPRC": inst.open or price, "STCK_HGPR": max(inst.high, price), "STCK_LWPR": inst.low or price,
            "ASKP1": ask, "BIDP1": bid, "CNTG_VOL": quantity, "ACML_VOL": inst.volume,
            "ACML_TR_PBMN": inst.value, "CCLD_DVSN": "1", "BSOP_DATE": now.strftime("%Y%m%d"),
            "NEW_MKOP_CLS_CODE": "20", "TRHT_YN": "N", "ASKP_RSQN1": ask_qty, "BIDP_RSQN1": bid_qty,
            "HOUR_CLS_CODE": "0", "MRKT_TRTM_CLS_CODE": "0",
        })
        values.update(overrides)
        return [str(values[c]) for c in frames.TRADE_COLUMNS]

    def _book_row(self, symbol: str, overrides: Mapping[str, Any]) -> list[str]:
        inst = self.exchange.instrument(symbol)
        now = self.exchange.clock.now().astimezone(SEOUL)
        ask, ask_qty = self.exchange.best(symbol, "sell")
        bid, bid_qty = self.exchange.best(symbol, "buy")
        values: dict[str, Any] = dict.fromkeys(frames.BOOK_COLUMNS, "0")
        values.update({"MKSC_SHRN_ISCD": symbol, "BSOP_HOUR": now.strftime("%H%M%S"), "HOUR_CLS_CODE": "0",
                       "ASKP1": ask, "BIDP1": bid, "ASKP_RSQN1": ask_qty, "BIDP_RSQN1": bid_qty,
                       "TOTAL_ASKP_RSQN": ask_qty, "TOTAL_BIDP_RSQN": bid_qty, "ACML_VOL": inst.volume})
        values.update(overrides)
        return [str(values[c]) for c in frames.BOOK_COLUMNS]


def notice_row(order: SimOrder, fill: SimFill | None, hts_id: str, at: dt.datetime) -> list[str]:
    """The 26 H0STCNI0/9 fields for an accept (CNTG_YN=1) or a fill (CNTG_YN=2) of `order`."""
    kind = {"new": "0", "modify": "1", "cancel": "2"}[order.kind]
    values = dict.fromkeys(frames.NOTICE_COLUMNS, "")
    values.update({
        "CUST_ID": hts_id, "ACNT_NO": order.account_id.replace("-", "")[:8],
        "ODER_NO": f"{order.order_id:010d}",
        "OODER_NO": f"{order.original_id:010d}" if order.original_id else "",
        "SELN_BYOV_CLS": "01" if order.side == "sell" else "02", "RCTF_CLS": kind,
        "ODER_KIND": "00" if order.order_type == "limit" else "01", "ODER_COND": "0",
        "STCK_SHRN_ISCD": order.symbol,
        "CNTG_QTY": str(fill.quantity if fill else order.quantity),
        "CNTG_UNPR": str(fill.price if fill else 0), "STCK_CNTG_HOUR": at.astimezone(SEOUL).strftime("%H%M%S"),
        "RFUS_YN": "0", "CNTG_YN": "2" if fill else "1", "ACPT_YN": "2", "BRNC_NO": "00950",
        "ODER_QTY": str(order.quantity), "ORD_EXG_GB": "1", "POPUP_YN": "N", "CRDT_CLS": "10",
        "CNTG_ISNM40": order.symbol, "ODER_PRC": str(order.price),
    })
    return [values[c] for c in frames.NOTICE_COLUMNS]
