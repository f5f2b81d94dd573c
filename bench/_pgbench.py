"""PostgreSQL alone, as a yardstick: pgbench's TPC-B-like transaction (three updates, a select
and an insert, as an order debits cash, moves a position and writes a ledger row) with the
orders benchmark's 32 clients, on a throw-away database.

Issue 5 sets its orders target against this: "on this machine PostgreSQL alone runs about
2,300 order-shaped transactions/s". Measured in the same run, it says whether a machine is
that machine's equal, so the orders figures can be read against the target on any machine.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from typing import Any

from bench._services import throwaway_database

CLIENTS = 32
# Issue 5: "on this machine PostgreSQL alone runs about 2,300 order-shaped transactions/s"; target ≥ 500 orders/s.
ISSUE_PG_TPS = 2300
ISSUE_TARGET_ORDERS_PER_S = 500
SCALE = 32  # branches: at least one per client, as pgbench's documentation advises


def find_pgbench() -> str | None:
    """pgbench on PATH, or beside the PostgreSQL server Debian installs (postgresql-NN)."""
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


def tpcb(seconds: int, scale: int = SCALE) -> dict[str, Any]:
    """Transactions/s of pgbench's built-in TPC-B-like script, prepared statements, 32 clients."""
    binary = find_pgbench()
    if binary is None:
        return {"status": "skipped: pgbench not found (it comes with the postgresql-NN package)"}
    with throwaway_database("pgbench") as url:
        subprocess.run([binary, "-i", "-q", "-s", str(scale), url], check=True, capture_output=True,
                       timeout=300)
        out = subprocess.run([binary, "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), "-M", "prepared", url],
                             check=True, capture_output=True, text=True, timeout=seconds + 120).stdout
    return {"status": "ok", "script": "tpcb-like (built in), -M prepared", "clients": CLIENTS, "scale": scale,
            "seconds": seconds, "database": url.rpartition("/")[2], **parse(out)}


def parse(report: str) -> dict[str, float]:
    """transactions_per_s and latency_avg_ms from pgbench's report (ValueError when missing)."""
    tps = re.search(r"^tps = ([0-9.]+)", report, re.MULTILINE)
    latency = re.search(r"^latency average = ([0-9.]+) ms", report, re.MULTILINE)
    if tps is None or latency is None:
        raise ValueError(f"not a pgbench report: {report[-300:]!r}")
    return {"transactions_per_s": round(float(tps.group(1)), 1), "latency_avg_ms": float(latency.group(1))}


def against_issue(orders_per_s: float, reference: dict[str, Any]) -> dict[str, Any]:
    """The orders rate on issue 5's scale: its target where PostgreSQL alone ran ISSUE_PG_TPS."""
    tps = reference.get("transactions_per_s")
    if not tps:
        return {}
    return {"issue_machine_pg_tps": ISSUE_PG_TPS, "this_machine_pg_tps": tps,
            "target_scaled_to_this_machine": round(ISSUE_TARGET_ORDERS_PER_S * tps / ISSUE_PG_TPS),
            "orders_per_pg_transaction": round(orders_per_s / tps, 3),
            "issue_target_ratio": round(ISSUE_TARGET_ORDERS_PER_S / ISSUE_PG_TPS, 3)}
