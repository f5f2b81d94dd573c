"""Broker accounts: encrypted at rest, masked in every view, tenant-scoped, soft-deleted."""

import psycopg
import pytest
from cryptography.fernet import Fernet

from autostock import accounts, crypto, db
from autostock.errors import NotFound, ValidationError

KIS = {"broker": "kis", "account_number": "50123456-01", "app_key": "PSappkey0123456789",
       "app_secret": "appsecret-abcdefghijklmnopqrstuvwxyz", "account_password": "0000"}


def test_secrets_are_ciphertext_in_the_table_and_masked_in_views(resources, user_factory):
    user = user_factory()
    view = accounts.create_account(resources, user["id"], **KIS, max_daily_trades=5)
    assert view["account_number_masked"] == "******56-01"
    assert not {"app_key", "app_secret", "account_password", "account_number"} & set(view)
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT * FROM broker_accounts WHERE id = %s", (view["id"],)).fetchone()
    for field in ("account_number", "app_key", "app_secret", "account_password"):
        assert KIS[field] not in row[field]
    creds = accounts.get_credentials(resources, user["id"], view["id"])
    assert (creds.app_key, creds.app_secret, creds.account_number, creds.account_password, creds.paper) == (
        KIS["app_key"], KIS["app_secret"], KIS["account_number"], KIS["account_password"], False)
    assert KIS["app_secret"] not in repr(creds)


def test_default_account_is_a_paper_account_with_the_configured_cash(resources, user_factory):
    user = user_factory()
    first = accounts.default_account(resources, user["id"])
    assert first["broker"] == "paper" and first["is_paper"] and first["is_default"]
    assert first["starting_cash"] == resources.settings.paper_starting_cash == 10_000_000
    assert accounts.default_account(resources, user["id"])["id"] == first["id"]
    assert [a["id"] for a in accounts.list_accounts(resources, user["id"])] == [first["id"]]


def test_limits_default_switch_disable_and_soft_delete(resources, user_factory):
    user = user_factory()
    paper = accounts.default_account(resources, user["id"])
    real = accounts.create_account(resources, user["id"], **KIS)
    changed = accounts.update_account(resources, user["id"], real["id"], max_position_size=5_000_000,
                                      allowed_products=["stock", "etf"], is_default=True)
    assert changed["max_position_size"] == 5_000_000 and changed["allowed_products"] == ["stock", "etf"]
    assert accounts.default_account(resources, user["id"])["id"] == real["id"]
    assert not accounts.get_account(resources, user["id"], paper["id"])["is_default"]
    assert accounts.disable_account(resources, user["id"], real["id"])["is_active"] is False
    with pytest.raises(NotFound):
        accounts.get_credentials(resources, user["id"], real["id"])
    accounts.delete_account(resources, user["id"], real["id"])
    with pytest.raises(NotFound):
        accounts.get_account(resources, user["id"], real["id"])
    assert [a["id"] for a in accounts.list_accounts(resources, user["id"])] == [paper["id"]]


@pytest.mark.parametrize("bad", [
    {"broker": "nh"}, {"broker": "kis", "account_number": "12"},
    {**KIS, "app_secret": ""}, {**KIS, "max_position_size": 0}, {**KIS, "allowed_products": ["crypto"]},
    {**KIS, "max_daily_trades": -1},
])
def test_bad_accounts_are_refused_and_nothing_is_stored(resources, user_factory, bad):
    user = user_factory()
    with pytest.raises(ValidationError):
        accounts.create_account(resources, user["id"], **bad)
    assert accounts.list_accounts(resources, user["id"]) == []


def test_another_users_account_is_not_found(resources, user_factory):
    a, b = user_factory(), user_factory()
    account = accounts.create_account(resources, a["id"], **KIS)
    for call in (accounts.get_account, accounts.get_credentials, accounts.delete_account):
        with pytest.raises(NotFound):
            call(resources, b["id"], account["id"])
    with pytest.raises(NotFound):
        accounts.update_account(resources, b["id"], account["id"], max_daily_trades=1)
    with pytest.raises(NotFound):
        accounts.get_account(resources, b["id"], "not-a-uuid")
    # A query that forgets its tenant filter still sees only the caller's rows (RLS).
    with db.tenant(resources.pool, b["id"]) as conn:
        assert conn.execute("SELECT count(*) AS n FROM broker_accounts").fetchone()["n"] == 0


def test_app_role_cannot_change_permissions_of_its_own_user(resources, user_factory):
    user = user_factory()
    with db.tenant(resources.pool, user["id"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE users SET can_real_trade = true, is_admin = true WHERE id = %s", (user["id"],))


def test_rotate_keys_leaves_every_secret_readable_with_the_new_key_alone(resources, user_factory):
    user = user_factory()
    account = accounts.create_account(resources, user["id"], **KIS)
    old = resources.settings.encryption_keys.reveal()
    new = Fernet.generate_key().decode()
    rotated = resources.settings.with_overrides(encryption_keys=crypto.Secret(f"{new},{old}"))
    try:
        assert accounts.rotate_keys(resources.pool, rotated) >= 1
        _assert_new_key_alone(resources, new, account)
    finally:  # the database is shared by the whole run: put every secret back under the run's key
        accounts.rotate_keys(resources.pool, resources.settings.with_overrides(
            encryption_keys=crypto.Secret(f"{old},{new}")))


def _assert_new_key_alone(resources, new, account):
    with db.service(resources.pool) as conn:
        rows = conn.execute("SELECT account_number, app_key, app_secret, account_password"
                            " FROM broker_accounts").fetchall()
    only_new = crypto.Secret(new)
    for row in rows:
        for value in row.values():
            if value:
                crypto.decrypt(only_new, value)
    with db.service(resources.pool) as conn:
        row = conn.execute("SELECT app_secret FROM broker_accounts WHERE id = %s", (account["id"],)).fetchone()
    assert crypto.decrypt(only_new, row["app_secret"]) == KIS["app_secret"]
