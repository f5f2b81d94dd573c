"""A user never sees or touches another user's data: through every API path with an id, and
through SQL that forgets its tenant filter."""

import dataclasses

import pytest

from autostock import accounts, audit, db
from autostock.resources import Resources
from autostock.auth import apikeys
from tests import tenancy
from tests.helpers import invoke

tenancy.load_all()
OPERATIONS = tenancy.id_operations()


def test_the_walk_finds_identity_paths():
    assert ("/api/v1/trading/accounts/{account_id}", "DELETE") in OPERATIONS


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_user_b_gets_404_for_user_as_resource(resources, user_factory, path, method):
    if path in tenancy.EXEMPT:
        pytest.skip(tenancy.EXEMPT[path])
    function = tenancy.function_for(method, path)
    assert function, f"{method} {path} is in the OpenAPI document but no stack.yml route serves it"
    if not tenancy.handler_exists(function):
        pytest.skip(f"function {function} is not built yet")
    made = tenancy.FACTORIES.get(path)
    assert made, (f"{path} takes an id: register a factory for it in tests/<area>/tenancy_factories.py "
                  "(see tests/tenancy.py)")
    owner, intruder = user_factory(), user_factory()
    params = made.make(resources, owner)
    concrete = path.format(**params)
    reply = invoke(function, method, concrete, made.bodies.get(method.lower(), {}), token=intruder["token"])
    assert reply.status == 404, f"{method} {concrete} as another user: {reply}"
    get_function = tenancy.function_for("GET", path)
    if "get" in _methods(path) and get_function:
        # The owner still finds it (some GETs may refuse for another reason, never 404).
        assert invoke(get_function, "GET", concrete, token=owner["token"]).status != 404, "owner lost the resource"


def _methods(path):
    return {m.lower() for p, m in OPERATIONS if p == path}


def test_sql_without_a_tenant_filter_returns_none_of_another_users_rows(resources, user_factory):
    owner, other = user_factory(), user_factory()
    accounts.create_account(resources, owner["id"], broker="ls", account_number="20123456789",
                            app_key="k" * 20, app_secret="s" * 30)
    accounts.default_account(resources, owner["id"])
    apikeys.create(resources, owner["id"], name="x", scopes=["read"])
    audit.record_alone(resources.pool, audit.Event.LOGIN, owner["id"])
    with db.service(resources.pool) as conn:
        tables = [r["table_name"] for r in conn.execute(
            "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name) WHERE c.table_schema = 'public' AND c.column_name = 'user_id'"
            " AND t.table_type = 'BASE TABLE'")]
        owned = {t: conn.execute(f"SELECT count(*) AS n FROM {t} WHERE user_id = %s",  # noqa: S608
                                 (owner["id"],)).fetchone()["n"] for t in tables}
    assert all(owned[t] > 0 for t in ("broker_accounts", "api_keys", "audit_log"))
    for table in [*tables, "users"]:
        column = "id" if table == "users" else "user_id"
        with db.tenant(resources.pool, other["id"]) as conn:
            # The forgotten filter: no WHERE at all, as the application role.
            foreign = conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {column} IS DISTINCT FROM %s",  # noqa: S608
                                   (other["id"],)).fetchone()["n"]
        assert foreign == 0, f"{table}: the app role sees {foreign} rows of other users"
        with resources.pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL ROLE autostock_app")  # no tenant set at all
            assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0, table  # noqa: S608


def test_a_tenant_transaction_leaves_no_role_or_tenant_behind(settings, user_factory):
    """db.tenant sends its own BEGIN with the role: both end with the transaction, committed or
    rolled back, and the pooled connection goes back as it came (one connection, so it is
    the same one each time)."""
    user = user_factory()
    single = Resources.open(dataclasses.replace(settings, db_pool_max=1))
    try:
        with db.tenant(single.pool, user["id"]) as conn:
            inside = conn.execute("SELECT current_user AS role, current_setting('app.user_id') AS tenant").fetchone()
            with pytest.raises(RuntimeError), conn.transaction():  # a savepoint, not the transaction
                raise RuntimeError
            assert conn.execute("SELECT current_user AS role").fetchone()["role"] == "autostock_app"
        assert inside == {"role": "autostock_app", "tenant": user["id"]}
        with pytest.raises(RuntimeError), db.tenant(single.pool, user["id"]) as conn:
            conn.execute("SELECT set_config('autostock.probe', 'left over', false)")  # undone by ROLLBACK
            raise RuntimeError
        with single.pool.connection() as conn:
            after = conn.execute("SELECT current_user AS role, current_setting('app.user_id', true) AS tenant,"
                                 " current_setting('autostock.probe', true) AS probe").fetchone()
        assert after["role"] != "autostock_app" and not after["tenant"] and not after["probe"]
    finally:
        single.close()


@pytest.mark.parametrize("hostile", ["x', true); SELECT set_config('role', 'autostock_service', true", "a\\'b",
                                     "00000000-0000-0000-0000-000000000000'--"])
def test_a_tenant_id_is_only_ever_a_quoted_value(resources, user_factory, hostile):
    """The opening query quotes the tenant id (and is remembered per id): no id escapes it."""
    user_factory()
    for _ in range(2):  # composed the first time, remembered the second
        with db.tenant(resources.pool, hostile) as conn:
            row = conn.execute("SELECT current_user AS who, current_setting('app.user_id') AS tenant").fetchone()
        assert row == {"who": "autostock_app", "tenant": hostile}
