"""The whole platform as a user meets it: `autostock dev` as a subprocess on a fresh database,
driven over HTTP only (plus one NATS message standing in for a closed minute bar).

Register two users → login → me → paper accounts → demo market data → quotes → a resting limit
order and a filled market order → orders, positions, portfolio → forged connector calls are
refused → an alert fires into the inbox (through the real NATS connector) → a backtest →
nobody sees another's data → logout → Ctrl-C stops the whole tree.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest
import requests
from cryptography.fernet import Fernet

from autostock.market import rules
from tests.conftest import ADMIN_DB_URL, NATS_URL, REDIS_URL, RUN_ID, _db_url
from tests.helpers import ROOT, eventually
from tests.runtime.test_services import free_port

pytestmark = pytest.mark.slow

PASSWORD = "Correct-Horse-Battery-42"


class Platform:
    def __init__(self, proc: subprocess.Popen, url: str, lines: list[str], nats_prefix: str) -> None:
        self.proc, self.url, self.lines, self.nats_prefix = proc, url, lines, nats_prefix

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None,
             **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.url + path, json=body, params=params or None, headers=headers,
                                timeout=60)


def _descendants(pid: int) -> set[int]:
    """Every process under `pid` (children run in their own sessions, so walk /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    name = f"autostock_e2e_{RUN_ID}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    prefix = f"e{RUN_ID}"
    env = {**os.environ, "DATABASE_URL": _db_url(ADMIN_DB_URL, name), "REDIS_URL": REDIS_URL, "NATS_URL": NATS_URL,
           "JWT_SECRET": "e2e-secret-" + RUN_ID * 5, "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
           "APP_ENV": "dev", "REDIS_PREFIX": f"{prefix}:", "NATS_PREFIX": f"{prefix}.",
           "STREAM_PORT": str(free_port()), "COLLECTOR_PORT": str(free_port()), "BROKER_SIM": "kis",
           "TEST_ADMIN_DATABASE_URL": ADMIN_DB_URL, "TEST_REDIS_URL": REDIS_URL, "TEST_NATS_URL": NATS_URL,
           "SECRETS_DIR": "/nonexistent", "PYTHONUNBUFFERED": "1"}
    env.pop("KIS_MARKET_KEYS", None)
    with tempfile.TemporaryDirectory() as cwd:  # the demo password file lands here, not in the repo
        proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "dev", "--stack", str(ROOT / "stack.yml"),
                                 "--port", str(port), "--workers", "1", "--data-dir", str(Path(cwd) / ".data")],
                                cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        url = f"http://127.0.0.1:{port}"
        try:
            eventually(lambda: any("demo login" in line for line in lines) or proc.poll() is not None, timeout=240)
            assert proc.poll() is None, "autostock dev exited while starting"
            yield Platform(proc, url, lines, env["NATS_PREFIX"])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _register_and_login(p: Platform) -> dict:
    name = "e2e_" + uuid.uuid4().hex[:8]
    reg = p.call("POST", "/api/v1/auth/register", body={"email": f"{name}@example.com", "username": name,
                                                       "password": PASSWORD})
    assert reg.status_code == 201, reg.text
    login = p.call("POST", "/api/v1/auth/login", body={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = p.call("GET", "/api/v1/auth/me", token)
    assert me.status_code == 200 and me.json()["username"] == name
    accounts = p.call("GET", "/api/v1/trading/accounts", token)
    assert accounts.status_code == 200, accounts.text
    paper = [a for a in accounts.json()["accounts"] if a["broker"] == "paper"]
    assert len(paper) == 1 and paper[0]["is_paper"]
    return {"name": name, "token": token, "account_id": paper[0]["id"]}


def _publish_bars(p: Platform, code: str, closes: list[int]) -> None:
    # Future minutes, so the alert engine takes them after any bar the collector already sent.
    start = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).replace(second=0, microsecond=0)

    async def send() -> None:
        client = await nats.connect(NATS_URL)
        try:
            for i, close in enumerate(closes):
                t = start + dt.timedelta(minutes=30 + i)
                bar = {"code": code, "t": t.isoformat(), "open": close, "high": close, "low": close,
                       "close": close, "volume": 1000, "prev_close": 0}
                await client.publish(f"{p.nats_prefix}bars.1m.{code}", json.dumps(bar).encode())
            await client.flush()
        finally:
            await client.close()

    asyncio.run(send())


def test_a_user_walks_through_the_platform(platform: Platform):
    p = platform
    assert p.call("GET", "/api/v1/health").status_code == 200
    banner = "\n".join(p.lines)
    assert f"AutoStock is running at {p.url}" in banner
    demo = re.search(r"demo login: (\S+) / (\S+)", banner)
    assert demo, banner
    assert p.call("POST", "/api/v1/auth/login",
                  body={"username": demo.group(1), "password": demo.group(2)}).status_code == 200

    a, b = _register_and_login(p), _register_and_login(p)

    # Market data seeded by `autostock dev` (seed-demo).
    found = p.call("GET", "/api/v1/market/stocks", a["token"], q="삼성전자")
    assert found.status_code == 200, found.text
    assert "005930" in [s["code"] for s in found.json()["stocks"]]
    chart = p.call("GET", "/api/v1/market/charts", a["token"], symbol="005930", interval="1d")
    assert chart.status_code == 200, chart.text
    assert len(chart.json()["bars"]) > 100

    # Quotes flow from the KIS simulator through the collector.
    def quote() -> dict | None:
        r = p.call("GET", "/api/v1/market/quotes", a["token"], codes="005930")
        items = r.json().get("quotes", []) if r.status_code == 200 else []
        return items[0] if items and items[0].get("price") else None
    q = eventually(quote, timeout=60, interval=0.5)
    base = q["prev_close"] or q["price"]
    lower, _ = rules.price_limits(base)
    resting = max(lower, rules.round_to_tick(q["price"] * 95 // 100, up=False))

    limit = p.call("POST", "/api/v1/trading/orders", a["token"],
                   {"symbol": "005930", "side": "buy", "quantity": 10, "price": resting, "order_type": "limit"})
    assert limit.status_code == 201, limit.text
    assert limit.json()["status"] in ("pending_new", "accepted")
    market = p.call("POST", "/api/v1/trading/orders", a["token"],
                    {"symbol": "005930", "side": "buy", "quantity": 3, "order_type": "market"})
    assert market.status_code == 201, market.text
    assert market.json()["status"] == "filled"

    orders = p.call("GET", "/api/v1/trading/orders", a["token"]).json()["items"]
    assert {o["id"] for o in orders} >= {limit.json()["id"], market.json()["id"]}
    positions = p.call("GET", "/api/v1/trading/positions", a["token"]).json()["items"]
    assert [(x["symbol"], x["quantity"]) for x in positions] == [("005930", 3)]
    summary = p.call("GET", "/api/v1/portfolio/summary", a["token"]).json()
    assert [x["symbol"] for x in summary["positions"]] == ["005930"]
    assert summary["reserved_cash"] >= 10 * resting
    assert p.call("GET", "/api/v1/trading/positions", b["token"]).json()["items"] == []

    # What only the connectors may send, sent by a user with X-Topic set: a fill of their own
    # resting order at 1 won, a clock tick, a bar for the alert engine. All refused, nothing changed.
    me = p.call("GET", "/api/v1/auth/me", a["token"]).json()
    forged_fill = {"account_id": a["account_id"], "user_id": me["id"], "broker_order_id": "forged",
                   "client_order_id": limit.json()["client_order_id"], "fill_id": "forged", "symbol": "005930",
                   "side": "buy", "quantity": 10, "price": 1}
    for name, topic, body in (("orders", "orders.fill", forged_fill), ("market-clock", "cron-function", None),
                              ("send-alert", "bars.1m.005930", {"code": "005930"})):
        r = requests.post(f"{p.url}/function/{name}/", json=body, timeout=30,
                          headers={"X-Topic": topic, "X-Connector": "connector-sdk"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_an_internal_call", (name, r.text)
    after = p.call("GET", f"/api/v1/trading/orders/{limit.json()['id']}", a["token"]).json()
    assert after["filled_quantity"] == 0 and after["status"] in ("pending_new", "accepted"), after

    # An alert, and a closed minute bar that crosses it → a notification in the inbox.
    line = rules.round_to_tick(q["price"] * 2, up=True)
    alert = p.call("POST", "/api/v1/alerts", a["token"],
                   {"symbol": "005930", "kind": "price_above", "params": {"price": line}, "channels": ["in_app"]})
    assert alert.status_code == 201, alert.text
    _publish_bars(p, "005930", [line - 1000, line + 1000])

    def fired() -> list[dict]:
        items = p.call("GET", "/api/v1/notifications", a["token"]).json()["items"]
        return [n for n in items if n["kind"] == "alert"]
    assert len(eventually(fired, timeout=30, interval=0.3)) == 1
    kinds = {n["kind"] for n in p.call("GET", "/api/v1/notifications", a["token"]).json()["items"]}
    assert "fill" in kinds  # the market order's fill notice reached the inbox too
    assert p.call("GET", "/api/v1/notifications", b["token"]).json()["items"] == []

    # A small backtest on the demo bars, answered at once and stored.
    run = p.call("POST", "/api/v1/backtest/run", a["token"],
                 {"strategy": "sma_cross", "symbol": "005930", "params": {"fast": 10, "slow": 30},
                  "start": "2023-01-01", "end": "2024-12-31"})
    assert run.status_code == 200, run.text
    result_id = run.json()["id"]
    stored = p.call("GET", f"/api/v1/backtest/results/{result_id}", a["token"])
    assert stored.status_code == 200 and stored.json()["status"] == "done"

    # Nobody sees another user's things.
    for path in (f"/api/v1/trading/orders/{limit.json()['id']}", f"/api/v1/alerts/{alert.json()['id']}",
                 f"/api/v1/backtest/results/{result_id}"):
        assert p.call("GET", path, b["token"]).status_code == 404, path
        assert p.call("GET", path, a["token"]).status_code == 200, path

    # Logout kills the access token at once.
    assert p.call("POST", "/api/v1/auth/logout", a["token"], {}).status_code == 200
    gone = p.call("GET", "/api/v1/auth/me", a["token"])
    assert gone.status_code == 401

    # Ctrl-C stops the whole process tree.
    tree = _descendants(p.proc.pid)
    assert len(tree) >= 7, tree  # sim, gateway (+ worker), connectors, worker, collector, stream, ...
    p.proc.send_signal(signal.SIGINT)
    assert p.proc.wait(timeout=60) == 0
    eventually(lambda: not any(_alive(pid) for pid in tree), timeout=20)
    with pytest.raises(requests.ConnectionError):
        requests.get(p.url + "/api/v1/health", timeout=2)
