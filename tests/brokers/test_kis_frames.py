"""Pure KIS frame parsers: known frames, multiple records, decryption, and a fuzz that only
ever sees KisParseError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autostock.brokers.kis import frames
from autostock.brokers.kis.frames import KisParseError
from autostock.brokers.kis.stream import KisStream, subscribe_message

KEY, IV = "k" * 32, "i" * 16


def _trade_row(price: int, qty: int) -> list[str]:
    row = ["0"] * len(frames.TRADE_COLUMNS)
    row[0], row[1], row[2], row[12], row[21], row[33] = "005930", "093015", str(price), str(qty), "1", "20260303"
    return row


def test_two_records_in_one_frame() -> None:
    text = frames.build_frame(frames.TRADE_TR, [_trade_row(70_100, 5), _trade_row(70_000, 7)])
    assert text.startswith("0|H0STCNT0|002|005930^093015^70100^")
    ticks = frames.parse_trades(text)
    assert [(t.price, t.volume, t.date) for t in ticks] == [(70_100, 5, "20260303"), (70_000, 7, "20260303")]
    assert ticks[0].side == "1" and ticks[0].cumulative_volume == 0 and "70100x5" in repr(ticks[0])


def test_book_frame() -> None:
    row = [str(i) for i in range(len(frames.BOOK_COLUMNS))]
    row[0], row[1] = "005930", "093015"
    book = frames.parse_book(frames.build_frame(frames.BOOK_TR, [row]))[0]
    assert book.asks[0] == 3 and book.bids[9] == 22 and book.ask_quantities[0] == 23
    assert (book.total_ask, book.expected_price, book.cumulative_volume) == (43, 47, 53)


def test_notice_roundtrip_in_both_layouts() -> None:
    current = [f"v{i}" for i in range(26)]
    enc = frames.encrypt("^".join(current), KEY, IV)
    notices = frames.parse_notices(f"1|H0STCNI0|001|{enc}", KEY, IV)
    assert notices[0]["ODER_PRC"] == "v25" and notices[0]["CNTG_YN"] == "v13"
    legacy = "^".join(f"w{i}" for i in range(23))
    old = frames.parse_notices(f"1|H0STCNI9|001|{frames.encrypt(legacy, KEY, IV)}", KEY, IV)
    assert (old[0]["CUST_ID"], old[0]["ODER_PRC"]) == ("w0", "w22") and "ORD_EXG_GB" not in old[0]
    with pytest.raises(KisParseError):
        frames.parse_notices(f"1|H0STCNI0|001|{enc}", "x" * 32, IV)


def test_control_and_stream_dispatch() -> None:
    reply = frames.parse_control('{"header":{"tr_id":"H0STCNI0","tr_key":"u"},"body":{"rt_cd":"0",'
                                 '"msg_cd":"OPSP0000","msg1":"SUBSCRIBE SUCCESS","output":{"iv":"a","key":"b"}}}')
    assert (reply["msg_cd"], reply["key"], reply["iv"]) == ("OPSP0000", "b", "a")
    assert frames.is_control("{") and not frames.is_control("0|")
    msg = subscribe_message("AK", "H0STCNT0", "005930")
    assert '"tr_type": "1"' in msg and '"approval_key": "AK"' in msg
    stream = KisStream("ws://127.0.0.1:1", "AK")
    assert stream.parse("0|H0STMKO0|001|a^b").kind == "frame"


@pytest.mark.parametrize("text", ["", "0|H0STCNT0", "2|H0STCNT0|001|x", "0|H0STCNT0|01|x", "0|H0STCNT0|000|",
                                  "0|H0STCNT0|001|a^b", "0|H0STASP0|001|a", "{not json", "1|H0STCNI0|001|@@@"])
def test_malformed_frames_raise_the_parse_error(text: str) -> None:
    with pytest.raises(KisParseError):
        for parser in (frames.parse_trades, frames.parse_book, frames.parse_control,
                       lambda t: frames.parse_notices(t, KEY, IV)):
            parser(text)


_pieces = st.sampled_from(["0", "1", "|", "^", "H0STCNT0", "H0STASP0", "H0STCNI0", "001", "002", "-", "{", "}",
                           "005930", "70100", "\x00", "é", " "])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_pieces, max_size=120).map("".join)))
def test_fuzzed_frames_only_raise_the_parse_error(text: str) -> None:
    for parser in (frames.parse_trades, frames.parse_book, frames.parse_control,
                   lambda t: frames.parse_notices(t, KEY, IV), frames.split_frame):
        try:
            parser(text)
        except KisParseError:
            pass


_field = st.sampled_from(["0", "70100", "-5", "", "x", "1e3", "٣", " 7"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_field, min_size=46, max_size=46), min_size=1, max_size=3))
def test_fuzzed_trade_fields_only_raise_the_parse_error_even_on_access(rows: list[list[str]]) -> None:
    try:
        ticks = frames.parse_trades(frames.build_frame(frames.TRADE_TR, rows))
    except KisParseError:
        return
    for tick in ticks:
        for name in ("symbol", "time", "sign", "side", "date", "change", "open", "high", "low", "ask", "bid",
                     "cumulative_volume", "cumulative_value"):
            try:
                getattr(tick, name)
            except KisParseError:
                pass
        assert tick.as_dict()["STCK_PRPR"] == tick.fields[2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3_000_000), st.integers(0, 10**9)), min_size=1, max_size=20))
def test_built_trade_frames_parse_back(values: list[tuple[int, int]]) -> None:
    ticks = frames.parse_trades(frames.build_frame(frames.TRADE_TR, [_trade_row(p, q) for p, q in values]))
    assert [(t.price, t.volume) for t in ticks] == values
