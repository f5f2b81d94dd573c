"""Security headers beyond the ones `contract` adds to every response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Tokens, recovery codes and keys must never sit in a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# The dashboard is same-origin static files plus /api/v1 and /ws: nothing inline, nothing foreign.
DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                 " connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none';"
                 " form-action 'self'; frame-ancestors 'none'")
DASHBOARD_HEADERS = {
    "Content-Security-Policy": DASHBOARD_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

Handle = Callable[..., dict[str, Any]]


def no_store(handle: Handle) -> Handle:
    """Wrap a function's `handle` so every answer, errors included, carries NO_STORE."""

    def wrapped(event: Any, context: Any = None) -> dict[str, Any]:
        response = handle(event, context)
        response["headers"] = {**response.get("headers", {}), **NO_STORE}
        return response

    return wrapped
