import threading

import psycopg
import pytest

from autostock.db.migrate import current_version, discover, migrate
from tests.conftest import ADMIN_DB_URL, RUN_ID, _db_url


@pytest.fixture
def blank_database():
    name = f"autostock_mig_{RUN_ID}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _db_url(ADMIN_DB_URL, name)
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_fresh_database_reaches_latest_then_noop(blank_database):
    latest = max(m.version for m in discover())
    applied = migrate(blank_database)
    assert applied == [m.version for m in discover()]
    assert current_version(blank_database) == latest
    assert migrate(blank_database) == []


def test_concurrent_runs_apply_each_migration_once(blank_database):
    results, failures = [], []

    def run():
        try:
            results.append(migrate(blank_database))
        except Exception as e:  # collected and asserted below
            failures.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in discover()]
    with psycopg.connect(blank_database) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert count == len(discover())
