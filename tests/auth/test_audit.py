"""The audit log is append-only for every role, and events land with their change."""

import psycopg
import pytest

from autostock import audit, db


def test_audit_log_refuses_update_and_delete_for_app_and_service(resources, user_factory):
    user = user_factory()
    with db.tenant(resources.pool, user["id"]) as conn:
        audit.record(conn, audit.Event.SETTINGS_CHANGED, user["id"], details={"fields": ["language"]})
    for scope in (lambda: db.tenant(resources.pool, user["id"]), lambda: db.service(resources.pool)):
        for statement in ("UPDATE audit_log SET event = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with scope() as conn:
                    conn.execute(statement)
    rows = audit.read(resources.pool, user_id=user["id"])
    assert [r["event"] for r in rows] == ["user.settings_changed"]


def test_a_user_reads_only_their_own_audit_rows(resources, user_factory):
    a, b = user_factory(), user_factory()
    audit.record_alone(resources.pool, audit.Event.LOGIN_FAILED, a["id"], ip="10.0.0.1")
    with db.tenant(resources.pool, b["id"]) as conn:
        assert conn.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == 0
    assert audit.read(resources.pool, event="auth.login_failed", user_id=a["id"])[0]["ip"] == "10.0.0.1"
