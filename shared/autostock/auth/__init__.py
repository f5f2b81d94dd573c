"""Identity: who is calling, and what they may do."""

from __future__ import annotations

from typing import Any

from autostock.auth.tokens import Principal, issue_access_token, principal_from_token
from autostock.errors import AuthError, Forbidden
from autostock.resources import Resources

__all__ = ["Principal", "authenticate", "issue_access_token", "require_scope"]


def bearer_token(event: Any) -> str:
    header = event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("a bearer access token is required", code="missing_token")
    return token.strip()


def authenticate(resources: Resources, event: Any) -> Principal:
    """The caller of `event`, from its `Authorization: Bearer` access token."""
    return principal_from_token(resources.settings, resources.redis, bearer_token(event))


def require_scope(principal: Principal, scope: str) -> None:
    if not principal.has(scope):
        raise Forbidden(f"this call needs the '{scope}' permission", code="missing_scope")
