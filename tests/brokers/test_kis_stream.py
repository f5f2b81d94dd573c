"""KIS realtime against the websocket simulator: subscribe, frames, notices, PINGPONG, drops."""

from __future__ import annotations

import asyncio

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed

from autostock.brokers.kis import frames
from autostock.brokers.kis.stream import KisStream, StreamEvent
from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.kis_ws import KisWebsocketSim
from autostock.errors import BrokerRejected, BrokerUnavailable
from tests.helpers import eventually


async def _next(stream: KisStream, kind: str, timeout: float = 5.0) -> StreamEvent:
    async def first() -> object:
        async for event in stream.events():
            if event.kind == kind:
                return event
        return None
    return await asyncio.wait_for(first(), timeout)


def test_trade_frames_from_the_sim_parse_to_the_values_sent(kis_ws: KisWebsocketSim) -> None:
    kis_ws.approvals["AK1"] = "app1"

    async def run() -> None:
        async with KisStream(kis_ws.url, "AK1") as stream:
            reply = await stream.subscribe(frames.TRADE_TR, "005930")
            assert reply["msg_cd"] == "OPSP0000"
            sent = kis_ws.push_trades("005930", [
                {"STCK_PRPR": 70_100, "CNTG_VOL": 12, "STCK_CNTG_HOUR": "100001", "CCLD_DVSN": "1"},
                {"STCK_PRPR": 69_900, "CNTG_VOL": 3, "STCK_CNTG_HOUR": "100002", "CCLD_DVSN": "5"},
                {"STCK_PRPR": 70_000, "CNTG_VOL": 1, "STCK_CNTG_HOUR": "100003", "ACML_VOL": 99}])
            event = await _next(stream, "trades")
            assert event.text == sent and sent.split("|")[2] == "003"
            assert [(t.price, t.volume, t.time, t.side) for t in event.items] == [
                (70_100, 12, "100001", "1"), (69_900, 3, "100002", "5"), (70_000, 1, "100003", "1")]
            assert event.items[2].cumulative_volume == 99 and event.items[0].symbol == "005930"
            assert event.items[0].change == 100 and event.items[0].sign == "2"

    asyncio.run(run())


def test_exchange_activity_pushes_book_and_encrypted_notices(kis_ws: KisWebsocketSim, exchange: Exchange) -> None:
    kis_ws.approvals["AK1"] = "app1"
    kis_ws.hts_ids["hts-user"] = "50123456-01"
    exchange.open_account("50123456-01", 10_000_000)

    async def run() -> None:
        async with KisStream(kis_ws.url, "AK1") as stream:
            await stream.subscribe(frames.NOTICE_TR_REAL, "hts-user")
            await stream.subscribe(frames.BOOK_TR, "005930")
            assert frames.NOTICE_TR_REAL in stream.ciphers
            exchange.submit("50123456-01", "005930", "buy", 5, "limit", 70_100)
            accept = await _next(stream, "notices")
            fill = await _next(stream, "notices")
            assert accept.text.startswith("1|H0STCNI0|001|") and "005930" not in accept.text
            assert accept.items[0]["CNTG_YN"] == "1" and accept.items[0]["ODER_QTY"] == "5"
            assert (fill.items[0]["CNTG_YN"], fill.items[0]["CNTG_QTY"], fill.items[0]["CNTG_UNPR"]) \
                == ("2", "3", "70100")
            exchange.requote("005930")
            book = await _next(stream, "book")
            assert book.items[0].asks[0] > book.items[0].bids[0] > 0

    asyncio.run(run())


def test_pingpong_is_echoed_and_a_kill_ends_the_stream(kis_ws: KisWebsocketSim) -> None:
    kis_ws.approvals["AK1"] = "app1"

    async def run() -> None:
        async with KisStream(kis_ws.url, "AK1") as stream:
            await stream.subscribe(frames.TRADE_TR, "005930")
            kis_ws.send_pingpong()
            await asyncio.to_thread(eventually, lambda: kis_ws.pong_count() == 1)
            kis_ws.kill_connections()
            with pytest.raises(BrokerUnavailable):
                await _next(stream, "trades")

    asyncio.run(run())


def test_session_rules_one_per_appkey_limits_and_unsubscribe(exchange: Exchange) -> None:
    sim = KisWebsocketSim(exchange, paper=True, max_registrations=2).start()
    sim.approvals.update({"AK1": "app1", "AK2": "app1"})
    try:
        async def run() -> None:
            async with KisStream(sim.url, "AK1") as s1:
                await s1.subscribe(frames.TRADE_TR, "005930")
                again = await s1.subscribe(frames.TRADE_TR, "005930")
                assert again["msg_cd"] == "OPSP0002"
                await s1.subscribe(frames.BOOK_TR, "005930")
                with pytest.raises(BrokerRejected) as e:
                    await s1.subscribe(frames.TRADE_TR, "000660")
                assert e.value.details["msg_cd"] == "OPSP0008"
                with pytest.raises(BrokerRejected):
                    await s1.subscribe(frames.NOTICE_TR_REAL, "hts")  # paper server: H0STCNI9 only
                assert (await s1.unsubscribe(frames.BOOK_TR, "005930"))["msg_cd"] == "OPSP0001"
                with pytest.raises(BrokerRejected) as e:
                    await s1.unsubscribe(frames.BOOK_TR, "005930")
                assert e.value.details["msg_cd"] == "OPSP0003"
                async with KisStream(sim.url, "AK2") as s2:
                    with pytest.raises(BrokerRejected) as e:
                        await s2.subscribe(frames.TRADE_TR, "000660")
                    assert e.value.details["msg_cd"] == "OPSP8996"
                async with KisStream(sim.url, "nope") as s3:
                    with pytest.raises(BrokerRejected):
                        await s3.subscribe(frames.TRADE_TR, "000660")
        asyncio.run(run())
        eventually(lambda: sim.connection_count == 0 and sim.subscriptions() == set())
    finally:
        sim.stop()


def test_clients_that_never_echo_pingpong_are_dropped(exchange: Exchange) -> None:
    sim = KisWebsocketSim(exchange, ping_interval=0.05, missed_pings=2).start()
    try:
        with ws_client.connect(sim.url) as silent:
            eventually(lambda: sim.connection_count == 1)
            with pytest.raises(ConnectionClosed):
                for _ in range(100):
                    assert '"PINGPONG"' in silent.recv(timeout=5)   # reads pings, never answers
        eventually(lambda: sim.connection_count == 0)
    finally:
        sim.stop()
