"""KIS realtime frames: column layouts, pure and fast parsers, execution-notice decryption.

Wire format (docs/brokers.md §1.8): a data frame is text `enc|TR_ID|NNN|payload`, where `enc`
is 0 (plain) or 1 (AES-256-CBC, Base64), NNN the 3-digit record count and the payload every
record's fields joined by `^`, records back to back. A control frame is JSON (first char `{`).
Parsers split once on `|` and once on `^` and slice by precomputed indices; the only exception
they raise is `KisParseError`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from operator import itemgetter
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from autostock.errors import BadGateway


class KisParseError(BadGateway):
    """A frame from KIS could not be read (malformed, truncated or undecryptable)."""

    code = "kis_parse_error"


TRADE_TR, BOOK_TR = "H0STCNT0", "H0STASP0"
NOTICE_TR_REAL, NOTICE_TR_PAPER = "H0STCNI0", "H0STCNI9"

TRADE_COLUMNS: tuple[str, ...] = (
    "MKSC_SHRN_ISCD", "STCK_CNTG_HOUR", "STCK_PRPR", "PRDY_VRSS_SIGN", "PRDY_VRSS", "PRDY_CTRT",
    "WGHN_AVRG_STCK_PRC", "STCK_OPRC", "STCK_HGPR", "STCK_LWPR", "ASKP1", "BIDP1", "CNTG_VOL",
    "ACML_VOL", "ACML_TR_PBMN", "SELN_CNTG_CSNU", "SHNU_CNTG_CSNU", "NTBY_CNTG_CSNU", "CTTR",
    "SELN_CNTG_SMTN", "SHNU_CNTG_SMTN", "CCLD_DVSN", "SHNU_RATE", "PRDY_VOL_VRSS_ACML_VOL_RATE",
    "OPRC_HOUR", "OPRC_VRSS_PRPR_SIGN", "OPRC_VRSS_PRPR", "HGPR_HOUR", "HGPR_VRSS_PRPR_SIGN",
    "HGPR_VRSS_PRPR", "LWPR_HOUR", "LWPR_VRSS_PRPR_SIGN", "LWPR_VRSS_PRPR", "BSOP_DATE",
    "NEW_MKOP_CLS_CODE", "TRHT_YN", "ASKP_RSQN1", "BIDP_RSQN1", "TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN",
    "VOL_TNRT", "PRDY_SMNS_HOUR_ACML_VOL", "PRDY_SMNS_HOUR_ACML_VOL_RATE", "HOUR_CLS_CODE",
    "MRKT_TRTM_CLS_CODE", "VI_STND_PRC",
)
BOOK_COLUMNS: tuple[str, ...] = (
    ("MKSC_SHRN_ISCD", "BSOP_HOUR", "HOUR_CLS_CODE")
    + tuple(f"ASKP{i}" for i in range(1, 11)) + tuple(f"BIDP{i}" for i in range(1, 11))
    + tuple(f"ASKP_RSQN{i}" for i in range(1, 11)) + tuple(f"BIDP_RSQN{i}" for i in range(1, 11))
    + ("TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN", "OVTM_TOTAL_ASKP_RSQN", "OVTM_TOTAL_BIDP_RSQN",
       "ANTC_CNPR", "ANTC_CNQN", "ANTC_VOL", "ANTC_CNTG_VRSS", "ANTC_CNTG_VRSS_SIGN",
       "ANTC_CNTG_PRDY_CTRT", "ACML_VOL", "TOTAL_ASKP_RSQN_ICDC", "TOTAL_BIDP_RSQN_ICDC",
       "OVTM_TOTAL_ASKP_ICDC", "OVTM_TOTAL_BIDP_ICDC", "STCK_DEAL_CLS_CODE")
)
NOTICE_COLUMNS: tuple[str, ...] = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND", "ODER_COND",
    "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN", "ACPT_YN",
    "BRNC_NO", "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB", "POPUP_YN", "FILLER", "CRDT_CLS",
    "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC",
)
# python-kis still reads an older 23-field layout (§1.8): ACNT_NAME is followed by CNTG_ISNM,
# CRDT_CLS, CRDT_LOAN_DATE, CNTG_ISNM40 and ODER_PRC (Soju06/python-kis order_execution.py).
_LEGACY_NOTICE = NOTICE_COLUMNS[:18] + ("CNTG_ISNM", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC")
COLUMNS = {TRADE_TR: TRADE_COLUMNS, BOOK_TR: BOOK_COLUMNS,
           NOTICE_TR_REAL: NOTICE_COLUMNS, NOTICE_TR_PAPER: NOTICE_COLUMNS}

_TRADE_WIDTH = len(TRADE_COLUMNS)
_BOOK_WIDTH = len(BOOK_COLUMNS)
_PARSE_FAILURES = (ValueError, IndexError, TypeError, AttributeError, KeyError, UnicodeError)


def _text(i: int) -> property:
    return property(lambda self: self[2][i], doc=TRADE_COLUMNS[i])


def _number(i: int) -> property:
    def get(self: tuple) -> int:
        try:
            return int(self[2][i])
        except ValueError as e:
            raise KisParseError(f"{TRADE_COLUMNS[i]} is not a number") from e
    return property(get, doc=TRADE_COLUMNS[i])


class TradeTick(tuple):
    """One H0STCNT0 record: `price` and `volume` converted (and so checked) while parsing;
    every other field is read from `fields` when asked for, which keeps parsing cheap for a
    collector that needs only a few of the 46. A field that is not a number raises
    KisParseError on access."""

    __slots__ = ()
    price = property(itemgetter(0), doc="STCK_PRPR, last price")
    volume = property(itemgetter(1), doc="CNTG_VOL, this trade's quantity")
    fields = property(itemgetter(2), doc="all 46 raw fields, in TRADE_COLUMNS order")
    symbol, time, sign, side, date = _text(0), _text(1), _text(3), _text(21), _text(33)
    change, open, high, low = _number(4), _number(7), _number(8), _number(9)
    ask, bid, cumulative_volume, cumulative_value = _number(10), _number(11), _number(13), _number(14)

    def as_dict(self) -> dict[str, str]:
        return dict(zip(TRADE_COLUMNS, self[2]))

    def __repr__(self) -> str:
        return f"TradeTick({self.symbol} {self.time} {self.price}x{self.volume})"


class OrderBook(NamedTuple):
    symbol: str
    time: str
    asks: tuple[int, ...]
    bids: tuple[int, ...]
    ask_quantities: tuple[int, ...]
    bid_quantities: tuple[int, ...]
    total_ask: int
    total_bid: int
    expected_price: int
    cumulative_volume: int


_new = tuple.__new__                       # no Python-level __new__ on the hot path
_make_tick = functools.partial(_new, TradeTick)


class Frame(NamedTuple):
    encrypted: bool
    tr_id: str
    count: int
    payload: str


def is_control(text: str) -> bool:
    """Control frames are JSON; data frames start with 0 or 1."""
    return text[:1] == "{"


def split_frame(text: str) -> Frame:
    """`enc|TR|NNN|payload` → Frame; the payload is left as is (it may be encrypted)."""
    try:
        enc, tr_id, count, payload = text.split("|", 3)
        n = int(count)
    except _PARSE_FAILURES as e:
        raise KisParseError("not a KIS data frame", details={"head": text[:40]}) from e
    if enc not in ("0", "1") or n <= 0 or len(count) != 3:
        raise KisParseError("bad KIS frame header", details={"head": text[:40]})
    return Frame(enc == "1", tr_id, n, payload)


def records(frame: Frame, width: int) -> list[list[str]]:
    """The payload's fields cut into `frame.count` records of `width` fields."""
    fields = frame.payload.split("^")
    if len(fields) != frame.count * width:
        raise KisParseError("record count does not match the fields",
                            details={"tr_id": frame.tr_id, "count": frame.count, "fields": len(fields)})
    return [fields[i:i + width] for i in range(0, len(fields), width)]


def parse_trades(text: str) -> list[TradeTick]:
    """Every H0STCNT0 record in one frame. The tick collector's hot path: one split on `|`,
    one on `^`, two int conversions per record, and for several records column slices
    (`map` in C) instead of a Python loop."""
    try:
        enc, tr_id, count, payload = text.split("|", 3)
        f = payload.split("^")
        if tr_id != TRADE_TR or enc != "0" or len(count) != 3 or len(f) != int(count) * _TRADE_WIDTH:
            raise ValueError("not a plain trade frame with that many records")
        if len(f) == _TRADE_WIDTH:
            return [_new(TradeTick, (int(f[2]), int(f[12]), f))]
        w = _TRADE_WIDTH
        return list(map(_make_tick, zip(map(int, f[2::w]), map(int, f[12::w]),
                                        [f[i:i + w] for i in range(0, len(f), w)])))
    except _PARSE_FAILURES as e:
        raise KisParseError("bad trade frame", details={"head": text[:40] if isinstance(text, str) else ""}) from e


def parse_book(text: str) -> list[OrderBook]:
    """Every H0STASP0 record in one frame, typed (10 levels each side)."""
    frame = split_frame(text)
    if frame.tr_id != BOOK_TR or frame.encrypted:
        raise KisParseError("not a plain order-book frame", details={"tr_id": frame.tr_id})
    out = []
    try:
        for r in records(frame, _BOOK_WIDTH):
            nums = [int(x) for x in r[3:45]]
            out.append(OrderBook(r[0], r[1], tuple(nums[0:10]), tuple(nums[10:20]), tuple(nums[20:30]),
                                 tuple(nums[30:40]), nums[40], nums[41], int(r[47]), int(r[53])))
    except _PARSE_FAILURES as e:
        raise KisParseError("bad order-book record", details={"record": len(out)}) from e
    return out


def decrypt(payload: str, key: str, iv: str) -> str:
    """Base64 → AES-256-CBC(key, iv) → strip PKCS#7 → UTF-8 (KIS's H0STCNI0/9 payloads)."""
    try:
        raw = base64.b64decode(payload, validate=True)
        decryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (*_PARSE_FAILURES, binascii.Error) as e:
        raise KisParseError("execution notice could not be decrypted") from e


def encrypt(plain: str, key: str, iv: str) -> str:
    """The inverse of `decrypt` (the simulator uses it to send notices)."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def parse_notices(text: str, key: str, iv: str) -> list[dict[str, str]]:
    """Execution notices (26-field current layout or 23-field legacy) as name → value dicts."""
    frame = split_frame(text)
    if frame.tr_id not in (NOTICE_TR_REAL, NOTICE_TR_PAPER):
        raise KisParseError("not an execution-notice frame", details={"tr_id": frame.tr_id})
    body = decrypt(frame.payload, key, iv) if frame.encrypted else frame.payload
    fields = body.split("^")
    for layout in (NOTICE_COLUMNS, _LEGACY_NOTICE):
        if len(fields) == frame.count * len(layout):
            w = len(layout)
            return [dict(zip(layout, fields[i:i + w])) for i in range(0, len(fields), w)]
    raise KisParseError("execution notice has an unknown layout",
                        details={"count": frame.count, "fields": len(fields)})


def parse_control(text: str) -> dict[str, Any]:
    """A control reply as {tr_id, tr_key, rt_cd, msg_cd, msg1, key, iv, datetime}."""
    try:
        data = json.loads(text)
        header = data.get("header") or {}
        body = data.get("body") or {}
        output = body.get("output") or {}
        return {"tr_id": str(header.get("tr_id", "")), "tr_key": str(header.get("tr_key", "")),
                "rt_cd": str(body.get("rt_cd", "")), "msg_cd": str(body.get("msg_cd", "")),
                "msg1": str(body.get("msg1", "")), "key": str(output.get("key", "")),
                "iv": str(output.get("iv", "")), "datetime": str(header.get("datetime", ""))}
    except (*_PARSE_FAILURES, json.JSONDecodeError) as e:
        raise KisParseError("bad control frame", details={"head": text[:40]}) from e


def build_frame(tr_id: str, rows: list[list[str]], *, encrypted: bool = False) -> str:
    """`0|TR|NNN|a^b^...` for `rows` (the simulator's side and the tests')."""
    payload = "^".join("^".join(r) for r in rows)
    return f"{1 if encrypted else 0}|{tr_id}|{len(rows):03d}|{payload}"
