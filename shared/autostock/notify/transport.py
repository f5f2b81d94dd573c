"""What a delivery attempt can end in; shared by the Telegram and webhook senders."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    retry: bool = False            # temporary: try again later
    retry_after: int | None = None  # seconds the far end asked us to wait

    @classmethod
    def sent(cls, status_code: int) -> Outcome:
        return cls(ok=True, status_code=status_code)

    @classmethod
    def temporary(cls, error: str, status_code: int | None = None, retry_after: int | None = None) -> Outcome:
        return cls(ok=False, status_code=status_code, error=error, retry=True, retry_after=retry_after)

    @classmethod
    def permanent(cls, error: str, status_code: int | None = None) -> Outcome:
        return cls(ok=False, status_code=status_code, error=error, retry=False)


def classify_http(status: int, error: str) -> Outcome:
    """2xx sent; 408/425/429 and 5xx temporary; any other 4xx permanent."""
    if 200 <= status < 300:
        return Outcome.sent(status)
    if status in (408, 425, 429) or status >= 500:
        return Outcome.temporary(error or f"HTTP {status}", status)
    return Outcome.permanent(error or f"HTTP {status}", status)
