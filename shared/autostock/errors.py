"""One error hierarchy, grouped by what the caller should do, rendered in one place.

`render_error` is the only place that turns an exception into a status and a body; nothing
else writes a status code of 400 or above.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("autostock.errors")


class AppError(Exception):
    """Base of every error the platform shows to a caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationError(AppError):
    status, code = 400, "validation_error"


class Unprocessable(AppError):
    status, code = 422, "unprocessable"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class AuthError(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class MethodNotAllowed(AppError):
    status, code = 405, "method_not_allowed"


class Conflict(AppError):
    status, code = 409, "conflict"


class BrokerRejected(AppError):
    """The broker (or our risk checks) refused the request; retrying the same will not help."""

    status, code = 422, "broker_rejected"


class BadGateway(AppError):
    """Something upstream (a broker, a feed) answered with what we cannot read."""

    status, code = 502, "bad_gateway"


class RateLimited(AppError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))
        self.headers.setdefault("Retry-After", str(self.retry_after))


class BrokerUnavailable(AppError):
    """Temporary: the broker or a service did not answer. Safe to retry reads, never orders."""

    status, code = 503, "broker_unavailable"


class ServiceUnavailable(AppError):
    status, code = 503, "service_unavailable"


class ConfigError(Exception):
    """A setting is missing or malformed; raised at start-up, never shown to API callers."""


def render_error(exc: BaseException, request_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Map any exception to (status, body, headers). Unknown ones become a bare 500."""
    if isinstance(exc, AppError):
        body = exc.to_dict()
        body["error"]["request_id"] = request_id
        return exc.status, body, dict(exc.headers)
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    body = {"error": {"code": "internal_error", "message": "internal error; quote the request id",
                      "details": {}, "request_id": request_id}}
    return 500, body, {}
