"""Broker numbers → integer KRW / share counts. Brokers send numbers as JSON numbers, strings,
zero-padded strings ("000000070000"), signed strings ("-69900") or fixed decimals ("35000.00")."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from autostock.errors import BrokerUnavailable


def whole(value: Any, broker: str) -> int:
    """`value` as an int, truncated toward zero; blank → 0; garbage → BrokerUnavailable."""
    text = str(value if value is not None else "").strip().replace(",", "")
    if not text:
        return 0
    try:
        return int(Decimal(text))
    except (InvalidOperation, ValueError) as e:
        raise BrokerUnavailable(f"{broker} sent a malformed number", details={"value": text[:20]}) from e
