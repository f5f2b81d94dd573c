"""The orders benchmark's yardstick: PostgreSQL alone under pgbench, read on issue 5's scale
(its figures come from `make bench`, not from here)."""

import psycopg
import pytest

from bench import _pgbench
from tests.conftest import ADMIN_DB_URL

REPORT = """pgbench (15.19 (Debian 15.19-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 32
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 49094
number of failed transactions: 0 (0.000%)
latency average = 13.036 ms
initial connection time = 61.503 ms
tps = 2454.713027 (without initial connection time)
"""


def test_a_pgbench_report_is_read() -> None:
    assert _pgbench.parse(REPORT) == {"transactions_per_s": 2454.7, "latency_avg_ms": 13.036}


def test_a_failed_run_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="not a pgbench report"):
        _pgbench.parse("pgbench: error: connection to server failed\n")


def test_orders_are_read_on_the_issues_scale() -> None:
    """Issue 5: 500 orders/s where PostgreSQL alone ran 2,300 transactions/s."""
    scaled = _pgbench.against_issue(250.0, {"transactions_per_s": 4600.0})
    assert scaled["target_scaled_to_this_machine"] == 1000
    assert scaled["orders_per_pg_transaction"] == pytest.approx(250 / 4600, abs=1e-3)
    assert _pgbench.against_issue(250.0, {"status": "skipped"}) == {}


@pytest.mark.skipif(_pgbench.find_pgbench() is None, reason="pgbench comes with the PostgreSQL server package")
def test_pgbench_runs_on_a_throwaway_database() -> None:
    result = _pgbench.tpcb(1, scale=1)
    assert result["status"] == "ok" and result["transactions_per_s"] > 0
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (result["database"],)).fetchone()
    assert left[0] == 0, "the benchmark's database is dropped"
