"""Identity fixtures: users made through the real registration path, and their logins."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import invoke

PASSWORD = "correct horse battery staple"


@pytest.fixture
def registered(resources):
    """`registered()` → dict(id, username, email, password) of a user made by POST /register."""

    def make(password: str = PASSWORD) -> dict:
        name = f"u{uuid.uuid4().hex[:10]}"
        reply = invoke("auth", "POST", "/api/v1/auth/register",
                       {"email": f"{name}@example.com", "username": name, "password": password},
                       headers={"X-Real-IP": _fresh_ip()})
        assert reply.status == 201, reply
        return {**reply.json, "password": password}

    return make


@pytest.fixture
def login(resources):
    """`login(user, **extra)` → the token reply of POST /login (asserted 200)."""

    def do(user: dict, expect: int = 200, **extra: str):
        reply = invoke("auth", "POST", "/api/v1/auth/login",
                       {"username": user["username"], "password": user["password"], **extra},
                       headers={"X-Real-IP": _fresh_ip()})
        assert reply.status == expect, reply
        return reply

    return do


def _fresh_ip() -> str:
    # Each call its own address, so per-IP limits never couple unrelated tests.
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"
