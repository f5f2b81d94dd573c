"""Authenticated `GET /api/v1/auth/me` through gunicorn, and login throughput.

* `me_max_rps_32_connections`: closed loop, 32 keep-alive connections (wrk) — the most the
  server answers; `me_server_cpu_ms_per_request` is what gunicorn's processes spent on each,
  which holds on a busy machine when req/s does not.
* `me_p95_ms_at_1000_rps`: open loop at a constant 1,000 req/s: each request has a scheduled
  send time and its latency is measured from that time, so queueing behind a slow answer is
  counted (no coordinated omission, as wrk2 does it).
* `login_per_second_cost_N`: correct-password logins with bcrypt cost N. The platform uses
  cost 10 (OWASP's minimum): on a NAS-class core one hash takes ~0.1-0.2 s, which keeps a
  guessing attacker slow while a burst of family logins does not saturate the two cores;
  cost 12 is measured too, for comparison (4x slower).

The server is the function template's app (`autostock.runtime.wsgi.single_function_app`)
over the `auth` handler, under gunicorn with gthread workers, on a throw-away database.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from autostock.auth.tokens import issue_access_token
from bench._load import Connection, closed_loop_raw, connect, open_loop_raw, process_tree_cpu, raw_request, wrk
from bench._services import bench_user, gunicorn, temporary_resources

PASSWORD = "bench password that is long enough"


async def _logins(port: int, username: str, connections: int, seconds: float) -> dict:
    conns = await connect("127.0.0.1", port, connections)
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def worker(i: int, conn: Connection) -> None:
        nonlocal done, errors
        n = 0
        while time.perf_counter() < stop:
            body = json.dumps({"username": username, "password": PASSWORD}).encode()
            raw = raw_request("POST", "/api/v1/auth/login", port,
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
        me_user = bench_user(resources, PASSWORD, 4)
        token, _ = issue_access_token(resources.settings, me_user["id"], ["read", "trade", "paper"],
                                      ttl=3600)
        login10, login12 = bench_user(resources, PASSWORD, 10), bench_user(resources, PASSWORD, 12)
        workers = int(os.environ.get("BENCH_AUTH_WORKERS", "3"))
        with gunicorn(resources, "bench._auth_app:app", workers=workers, threads=8,
                      env={"RATE_LIMIT_USER_PER_MINUTE": "1000000000", "RATE_LIMIT_IP_PER_MINUTE": "0"}) as (pid, port):
            raw = raw_request("GET", "/api/v1/auth/me", port, {"Authorization": f"Bearer {token}"})
            warm = asyncio.run(closed_loop_raw(port, raw, 8, 1.0))
            cpu = process_tree_cpu(pid)
            closed = wrk(f"http://127.0.0.1:{port}/api/v1/auth/me", connections=32, seconds=seconds,
                         headers={"Authorization": f"Bearer {token}"})
            cpu = process_tree_cpu(pid) - cpu
            opened = asyncio.run(open_loop_raw(port, [raw], rate=1000, seconds=seconds))
            cost10 = asyncio.run(_logins(port, login10["username"], 4, seconds))
            cost12 = asyncio.run(_logins(port, login12["username"], 4, seconds))
    return {"me_max_rps_32_connections": round(closed["rps"], 1), "me_max_errors": closed["errors"] + warm["errors"],
            "me_server_cpu_ms_per_request": round(cpu * 1000 / max(1, closed["requests"]), 3),
            "me_open_loop_1000_rps": opened, "me_p95_ms_at_1000_rps": opened["p95_ms"],
            "login_per_second_cost_10": cost10["per_second"], "login_per_second_cost_12": cost12["per_second"],
            "login_errors": cost10["errors"] + cost12["errors"], "bcrypt_cost_used": 10,
            "load_average_at_end": os.getloadavg()[0], "seconds_per_phase": seconds}
