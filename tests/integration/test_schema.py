"""Schema conventions every migration must keep (see 0001_platform.sql)."""

import psycopg
import pytest


def _tenant_tables(conn):
    return [r[0] for r in conn.execute(
        "SELECT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND c.column_name = 'user_id' AND t.table_type = 'BASE TABLE'"
    )]


def test_every_tenant_table_has_forced_rls_and_both_policies(database_url):
    with psycopg.connect(database_url) as conn:
        tables = _tenant_tables(conn) + ["users"]
        for table in tables:
            rls, forced = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", (table,)
            ).fetchone()
            assert rls and forced, f"{table} must ENABLE and FORCE row level security"
            roles = {r for (row,) in conn.execute(
                "SELECT roles FROM pg_policies WHERE tablename = %s", (table,)) for r in row}
            assert {"autostock_app", "autostock_service"} <= roles, f"{table} policies: {roles}"


def test_no_money_column_is_floating_point(database_url):
    with psycopg.connect(database_url) as conn:
        floats = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN ('real', 'double precision')"
            " AND (column_name ~ '(price|cash|amount|value|fee|tax|commission|pnl|equity|balance|cost)')"
        ).fetchall()
    assert floats == []


def test_app_role_sees_only_its_own_user_row(resources):
    from autostock import db
    with db.service(resources.pool) as conn:
        a = conn.execute("INSERT INTO users (email, username, password_hash) VALUES"
                         " ('rls-a@example.com', 'rls_a', 'x') RETURNING id").fetchone()["id"]
        conn.execute("INSERT INTO users (email, username, password_hash) VALUES"
                     " ('rls-b@example.com', 'rls_b', 'x')")
    with db.tenant(resources.pool, a) as conn:
        rows = conn.execute("SELECT username FROM users").fetchall()
    assert [r["username"] for r in rows] == ["rls_a"]
    with db.tenant(resources.pool, a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM users")
