"""Authenticated `GET /api/v1/auth/me` through gunicorn, and login throughput.

* `me_max_rps_32_connections`: closed loop, 32 keep-alive connections (wrk when installed,
  else the asyncio client below) — the most the server answers.
* `me_p95_ms_at_1000_rps`: open loop at a constant 1,000 req/s: each request has a scheduled
  send time and its latency is measured from that time, so queueing behind a slow answer is
  counted (no coordinated omission, as wrk2 does it).
* `login_per_second_cost_N`: correct-password logins with bcrypt cost N. The platform uses
  cost 10 (OWASP's minimum): on a NAS-class core one hash takes ~0.1-0.2 s, which keeps a
  guessing attacker slow while a burst of family logins does not saturate the two cores;
  cost 12 is measured too, for comparison (4x slower).

The server is the function template's Flask app (`autostock.runtime.wsgi.single_function_app`)
over the `auth` handler, under gunicorn with gthread workers, on a throw-away database.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from autostock import db
from autostock.auth import passwords
from autostock.auth.tokens import issue_access_token
from bench._load import Connection, connect, request, run_open_loop
from bench._services import temporary_resources

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password that is long enough"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(resources, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    s = resources.settings
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": s.database_url.reveal(), "REDIS_URL": s.redis_url.reveal(),
           "NATS_URL": s.nats_url, "JWT_SECRET": s.jwt_secret.reveal(), "ENCRYPTION_KEYS": s.encryption_keys.reveal(),
           "REDIS_PREFIX": s.redis_prefix, "NATS_PREFIX": s.nats_prefix, "SECRETS_DIR": "/nonexistent",
           "LOG_LEVEL": "WARNING", "RATE_LIMIT_USER_PER_MINUTE": "1000000000", "RATE_LIMIT_IP_PER_MINUTE": "0",
           "PYTHONPATH": str(ROOT)}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
                             "--threads", str(threads), "--log-level", "warning", "bench._auth_app:app"],
                            env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def _user(resources, rounds: int) -> dict:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with db.service(resources.pool) as conn:
        row = conn.execute("INSERT INTO users (email, username, password_hash, api_calls_limit)"
                           " VALUES (%s, %s, %s, 0) RETURNING id",
                           (f"{name}@bench.example", name, passwords.hash_password(PASSWORD, rounds))).fetchone()
    return {"id": str(row["id"]), "username": name}


async def _closed_loop(port: int, raw: bytes, connections: int, seconds: float) -> dict:
    conns = await connect("127.0.0.1", port, connections)
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def worker(conn: Connection) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop:
            status, _ = await conn.call(raw)
            done += 1
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return {"rps": done / elapsed, "errors": errors}


def _open_loop(port: int, raw: bytes, rate: int, seconds: float) -> dict:
    run = asyncio.run(run_open_loop(f"http://127.0.0.1:{port}", lambda i, host: raw, rate=rate,
                                    seconds=seconds, grace=30.0))
    latencies = sorted(r.latency for r in run.replies)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {"offered_rps": rate, "achieved_rps": round(run.offered / run.elapsed, 1), "p50_ms": pct(0.50),
            "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "errors": sum(r.status != 200 for r in run.replies) + run.not_sent}


def _wrk(port: int, token: str, connections: int, seconds: int) -> dict | None:
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}",
                          f"http://127.0.0.1:{port}/api/v1/auth/me"], capture_output=True, text=True, timeout=seconds + 30)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out.stdout)
    return {"rps": float(rps.group(1)) if rps else 0.0, "errors": int(non2xx.group(1)) if non2xx else 0}


async def _logins(port: int, username: str, connections: int, seconds: float) -> dict:
    conns = await connect("127.0.0.1", port, connections)
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def worker(i: int, conn: Connection) -> None:
        nonlocal done, errors
        n = 0
        while time.perf_counter() < stop:
            body = json.dumps({"username": username, "password": PASSWORD}).encode()
            raw = request("POST", "/api/v1/auth/login", f"127.0.0.1:{port}",
                          {"Content-Type": "application/json", "X-Real-IP": f"10.9.{i}.{n % 250 + 1}"}, body)
            status, _ = await conn.call(raw)
            done += 1
            errors += status != 200
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return {"per_second": round(done / elapsed, 2), "errors": errors}


def run(quick: bool) -> dict:
    seconds = 2 if quick else 10
    with temporary_resources("auth") as resources:
        me_user = _user(resources, 4)
        token, _ = issue_access_token(resources.settings, me_user["id"], ["read", "trade", "paper"],
                                      ttl=3600)
        login10, login12 = _user(resources, 10), _user(resources, 12)
        proc, port = _server(resources, workers=int(os.environ.get("BENCH_AUTH_WORKERS", "3")), threads=8)
        try:
            raw = request("GET", "/api/v1/auth/me", f"127.0.0.1:{port}", {"Authorization": f"Bearer {token}"})
            warm = asyncio.run(_closed_loop(port, raw, 8, 1.0))
            closed = _wrk(port, token, 32, seconds) or asyncio.run(_closed_loop(port, raw, 32, seconds))
            opened = _open_loop(port, raw, 1000, seconds)
            cost10 = asyncio.run(_logins(port, login10["username"], 4, seconds))
            cost12 = asyncio.run(_logins(port, login12["username"], 4, seconds))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    return {"me_max_rps_32_connections": round(closed["rps"], 1), "me_max_errors": closed["errors"] + warm["errors"],
            "me_open_loop_1000_rps": opened, "me_p95_ms_at_1000_rps": opened["p95_ms"],
            "login_per_second_cost_10": cost10["per_second"], "login_per_second_cost_12": cost12["per_second"],
            "login_errors": cost10["errors"] + cost12["errors"], "bcrypt_cost_used": 10,
            "load_average_at_end": os.getloadavg()[0], "seconds_per_phase": seconds}
