"""Orders through the local runtime (the gateway under gunicorn) against the paper broker.

(a) the most orders/s with 32 concurrent clients (wrk, closed loop, 60 s; 6 s when quick);
(b) p50/p95/p99 at a constant offered 300 orders/s (open loop: latency is measured from each
    request's scheduled time, so queueing counts; 60 s; 6 s when quick);
(c) the seed's load mix, portfolio summary 3 : quote 2 : order 1, with 1,000 simulated users
    waiting 1-3 s between calls (p95 per endpoint);
each with the CPU the server (gunicorn and its workers) and PostgreSQL spent per order or
request, which moves far less than the rates when the machine is shared;
then checks that every 201 has exactly one order row and that every account's books
reconcile (cash = ledger sum, positions = fills, ours = the paper broker's own books).
First, with nothing else running, PostgreSQL alone (pgbench's TPC-B-like transaction, 32
clients; `bench/_pgbench.py`): the yardstick issue 5 states its target against.

The server runs with a fixed mid-session clock so the benchmark runs at any hour, and with the
runtime's gunicorn defaults (BENCH_ORDERS_WORKERS / BENCH_ORDERS_THREADS override them).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from autostock.runtime import GATEWAY_THREADS, gateway_workers
from bench._cpu import Meter
from bench._load import closed_users, open_loop, percentiles, require_wrk
from bench._pgbench import against_issue, tpcb
from bench._services import free_port, server_env, temporary_resources

ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "005930"
PRICE = 70_000
SESSION = "2025-06-16T10:00:00+09:00"
CASH = 100_000_000
ORDER = {"symbol": SYMBOL, "side": "buy", "quantity": 1, "price": PRICE, "order_type": "limit"}


def _serve(env: dict[str, str], port: int, workers: int, threads: int) -> None:
    """The gateway process (spawned): a fixed clock, the calendar built before gunicorn forks."""
    import datetime as dt
    os.environ.update(env)
    from autostock.market import calendar
    from autostock.orders import desk, fixed_clock
    from autostock.orders.routing import desk_with_clock
    from autostock.runtime import server, stack
    from autostock.runtime.gateway import create_app
    from autostock.runtime.handlers import load_all
    at = dt.datetime.fromisoformat(SESSION)
    calendar.is_open(at)
    desk.set_factory(lambda res: desk_with_clock(res, fixed_clock(at)))
    st = stack.load(ROOT / "stack.yml", os.environ, ROOT)
    app = create_app(st, load_all(st), f"http://127.0.0.1:{port}")
    server.serve(app, f"127.0.0.1:{port}", workers, threads, log_level=env["LOG_LEVEL"])


def _env(settings: Any) -> dict[str, str]:
    return server_env(settings, RATE_LIMIT_USER_PER_MINUTE="1000000", DB_POOL_MAX="8")


def _seed(resources: Any, users: int) -> list[dict[str, str]]:
    """`users` traders with a 100M KRW paper account each, the symbol and its quote."""
    import datetime as dt

    from autostock import accounts, db
    from autostock.auth.tokens import issue_access_token
    from autostock.brokers.paper import PaperBroker
    from autostock.market.quotes import StoredQuote, write_quote
    from autostock.orders import book
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO symbols (code, name_ko, market) VALUES (%s, '삼성전자', 'KOSPI')"
                     " ON CONFLICT (code) DO NOTHING", (SYMBOL,))
        ids = [str(r["id"]) for r in conn.execute(
            "INSERT INTO users (email, username, password_hash, daily_trade_limit, api_calls_limit)"
            " SELECT 'b' || g || '@example.com', 'bench_' || g, 'x', 1000000, 100000000"
            " FROM generate_series(1, %s) g RETURNING id", (users,)).fetchall()]
    write_quote(resources.redis, resources.settings, StoredQuote(
        code=SYMBOL, price=PRICE, bid=PRICE, ask=PRICE, volume=1_000_000, prev_close=PRICE,
        at=dt.datetime.fromisoformat(SESSION), market="KOSPI"))
    out = []
    for uid in ids:
        account = accounts.create_account(resources, uid, broker="paper", is_paper=True,
                                          starting_cash=CASH)
        # Open both books now, as a first order would, so the runs measure steady-state orders.
        PaperBroker(resources, account["id"], uid, starting_cash=CASH).connect()
        with db.tenant(resources.pool, uid) as conn:
            book.open_book(conn, uid, account["id"], CASH)
        token, _ = issue_access_token(resources.settings, uid, ["read", "trade", "paper"], ttl=4 * 3600)
        out.append({"user_id": uid, "account_id": account["id"], "token": token})
    return out


LUA = r"""
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local threads = {}
local body = os.getenv("BENCH_BODY")
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end
function init(args) created = 0; other = 0; n = 0 end
function request()
  n = n + 1
  local i = ((n * 97 + tid * 389) % #tokens) + 1
  return wrk.format("POST", "/api/v1/trading/orders",
    {["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("created"); o = o + t:get("other") end
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d %d\n", c, o, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.requests, summary.duration))
end
"""


def _wrk(url: str, traders: list[dict[str, str]], seconds: int) -> dict[str, Any]:
    import json
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens.txt"
        tokens.write_text("\n".join(t["token"] for t in traders) + "\n")
        script = Path(tmp) / "orders.lua"
        script.write_text(LUA)
        env = {**os.environ, "BENCH_TOKENS": str(tokens), "BENCH_BODY": json.dumps(ORDER)}
        out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
                             capture_output=True, text=True, env=env, timeout=seconds + 60, check=True).stdout
    fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1:]
    created, other, p50, p95, p99, total, micros = fields
    return {"clients": 32, "seconds": int(micros) / 1e6, "requests": int(total), "created_201": int(created),
            "not_201": int(other), "orders_per_s": round(int(created) / (int(micros) / 1e6), 1),
            "latency_ms": {"p50": float(p50), "p95": float(p95), "p99": float(p99)}}


def _order_rows(resources: Any) -> int:
    from autostock import db
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT count(*) AS n FROM orders").fetchone()["n"]


def _verify(resources: Any, created: int, ids: list[str]) -> dict[str, Any]:
    from autostock import db
    with db.service(resources.pool) as conn:
        rows = conn.execute("SELECT count(*) AS n FROM orders").fetchone()["n"]
        found = conn.execute("SELECT count(*) AS n FROM orders WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()["n"]
        cash_mismatch = conn.execute(
            "SELECT count(*) AS n FROM account_books b WHERE b.cash <> (SELECT coalesce(sum(amount), 0)"
            " FROM cash_ledger l WHERE l.account_id = b.account_id)").fetchone()["n"]
        position_mismatch = conn.execute(
            "SELECT count(*) AS n FROM positions p WHERE p.quantity <> (SELECT coalesce(sum(CASE WHEN"
            " side = 'buy' THEN quantity ELSE -quantity END), 0) FROM fills f WHERE f.account_id = p.account_id"
            " AND f.symbol = p.symbol)").fetchone()["n"]
        broker_mismatch = conn.execute(
            "SELECT count(*) AS n FROM account_books b JOIN paper_accounts p USING (account_id)"
            " WHERE b.cash <> p.cash").fetchone()["n"]
        order_mismatch = conn.execute(
            "SELECT count(*) AS n FROM orders o WHERE o.filled_quantity <> (SELECT coalesce(sum(quantity), 0)"
            " FROM fills f WHERE f.order_id = o.id)").fetchone()["n"]
    return {"201s_plus_wrk_rows": created, "order_rows": rows, "rows_equal": rows == created,
            "ids_found": found == len(set(ids)) == len(ids), "cash_vs_ledger_mismatches": cash_mismatch,
            "positions_vs_fills_mismatches": position_mismatch, "ours_vs_paper_cash_mismatches": broker_mismatch,
            "orders_vs_fills_mismatches": order_mismatch}


def run(quick: bool) -> dict:
    require_wrk()
    seconds = 6 if quick else 60
    workers = int(os.environ.get("BENCH_ORDERS_WORKERS") or gateway_workers())
    threads = int(os.environ.get("BENCH_ORDERS_THREADS") or GATEWAY_THREADS)
    reference = tpcb(5 if quick else 20)  # before the server starts: nothing else competes
    with temporary_resources("orders") as resources:
        started = time.perf_counter()
        traders = _seed(resources, 1000)
        seed_s = time.perf_counter() - started
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(_env(resources.settings), port, workers, threads))  # not a daemon: it forks workers
        proc.start()
        try:
            _wait(url)
            # Two seconds of orders over many connections, so that every worker has imported
            # the broker and opened its pool before anything is measured.
            _, ids = open_loop(url, traders, rate=50, seconds=2, body=ORDER)
            before = _order_rows(resources)
            meter = Meter(proc.pid, resources.settings.database_url.reveal())
            meter.start()
            a = _wrk(url, traders, seconds)
            time.sleep(2)  # requests wrk cut off at its deadline still finish on the server
            a["rows_created"] = _order_rows(resources) - before
            a["rows_minus_201s"] = a["rows_created"] - a["created_201"]
            a["rows_check"] = 0 <= a["rows_minus_201s"] <= 32  # at most one cut-off request per connection
            a["cpu_per_order"] = meter.per(a["rows_created"])
            meter.start()
            b, b_ids = open_loop(url, traders, rate=300, seconds=seconds, body=ORDER)
            b["cpu_per_order"] = meter.per(b["answered"])
            quote_path = f"/api/v1/market/quotes?codes={SYMBOL}"
            has_quotes = requests.get(url + quote_path, timeout=10).status_code != 404
            meter.start()
            c, c_ids = closed_users(url, traders, seconds=max(seconds, 20) if quick else 60,
                                    order={**ORDER, "order_type": "market", "price": None},
                                    quote_path=quote_path if has_quotes else None)
            c["cpu_per_request"] = meter.per(c["requests"])
            ids += b_ids + c_ids
            created = len([i for i in ids if i]) + a["rows_created"]
        finally:
            proc.terminate()
            proc.join(20)
        check = _verify(resources, created, [i for i in ids if i])
    return {"server": {"workers": workers, "threads": threads, "cpus": os.cpu_count()},
            "seed_seconds_1000_users": round(seed_s, 1),
            "postgres_alone": {**reference, "orders_on_the_issues_scale": against_issue(a["orders_per_s"], reference)},
            "a_closed_loop_32_clients": a, "b_open_loop_300_per_s": b, "c_seed_load_mix_1000_users": c,
            "quote_endpoint": "present" if has_quotes else "absent (quote-snapshot not in this stack)",
            "check": check, "run_id": uuid.uuid4().hex[:6]}


def _wait(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/v1/health", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not start")


__all__ = ["percentiles", "run"]
