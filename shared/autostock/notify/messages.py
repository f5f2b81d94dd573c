"""Short notification texts, Korean by default and English on request, amounts in KRW."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("ko", "en")


def krw(amount: int, language: str = "ko") -> str:
    return f"{amount:,}원" if language == "ko" else f"KRW {amount:,}"


_ALERT = {
    "ko": {
        "price_above": "{name} {price} 돌파 (기준 {level})",
        "price_below": "{name} {price} 하회 (기준 {level})",
        "pct_change": "{name} 전일 대비 {pct} ({price})",
        "volume_spike": "{name} 거래량 급증 {volume}주 ({price})",
        "indicator": "{name} {indicator} 조건 충족 ({price})",
        "title": "알림: {name}",
    },
    "en": {
        "price_above": "{name} crossed above {level} at {price}",
        "price_below": "{name} fell below {level} at {price}",
        "pct_change": "{name} {pct} from the previous close ({price})",
        "volume_spike": "{name} volume spike: {volume} shares ({price})",
        "indicator": "{name} {indicator} condition met ({price})",
        "title": "Alert: {name}",
    },
}

_ORDER = {
    "ko": {"filled": "체결: {name} {side} {qty}주 @ {price}",
           "rejected": "주문 거부: {name} {side} {qty}주 ({reason})",
           "side": {"buy": "매수", "sell": "매도"}, "title_filled": "체결 알림", "title_rejected": "주문 거부"},
    "en": {"filled": "Filled: {side} {qty} {name} @ {price}",
           "rejected": "Order rejected: {side} {qty} {name} ({reason})",
           "side": {"buy": "BUY", "sell": "SELL"}, "title_filled": "Order filled", "title_rejected": "Order rejected"},
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "ko"


def _name(code: str, name: str | None) -> str:
    return f"{name}({code})" if name else code


def alert_text(language: str, *, kind: str, code: str, name: str | None, price: int,
               params: dict[str, Any], volume: int = 0, prev_close: int = 0) -> tuple[str, str]:
    """(title, body) of a fired alert."""
    lang = _lang(language)
    t = _ALERT[lang]
    pct = ""
    if prev_close:
        bp = (price - prev_close) * 10_000 // prev_close if price >= prev_close \
            else -((prev_close - price) * 10_000 // prev_close)
        pct = f"{bp / 100:+.2f}%"  # display only; the decision used integer basis points
    label = _name(code, name)
    body = t[kind].format(name=label, price=krw(price, lang), level=krw(int(params.get("price", 0)), lang),
                          pct=pct, volume=f"{volume:,}", indicator=params.get("name", ""))
    return t["title"].format(name=label), body


def order_text(language: str, *, event: str, code: str, name: str | None, side: str, quantity: int,
               price: int = 0, reason: str = "") -> tuple[str, str]:
    """(title, body) of a fill or a rejection."""
    lang = _lang(language)
    t = _ORDER[lang]
    side_text = t["side"].get(side, side)
    body = t[event].format(name=_name(code, name), side=side_text, qty=f"{quantity:,}",
                           price=krw(price, lang), reason=reason)
    return t[f"title_{event}"], body
