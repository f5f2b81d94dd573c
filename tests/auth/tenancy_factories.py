"""Identity's entries in the tenancy registry (see tests/tenancy.py)."""

from autostock import accounts
from autostock.auth import apikeys
from tests.tenancy import exempt, factory

for _path in ("/api/v1/admin/users/{user_id}/permissions", "/api/v1/admin/users/{user_id}/activate",
              "/api/v1/admin/users/{user_id}/deactivate"):
    exempt(_path, "admin paths reach every tenant by design; they need the admin scope (test_admin)")


@factory("/api/v1/trading/accounts/{account_id}", bodies={"patch": {"max_daily_trades": 1}})
def broker_account(resources, owner):
    account = accounts.create_account(resources, owner["id"], broker="kis", account_number="50123456-01",
                                      app_key="k" * 20, app_secret="s" * 30)
    return {"account_id": account["id"]}


@factory("/api/v1/trading/accounts/{account_id}/test")
def broker_account_to_test(resources, owner):
    return broker_account(resources, owner)


@factory("/api/v1/trading/accounts/{account_id}/disable")
def broker_account_to_disable(resources, owner):
    return broker_account(resources, owner)


@factory("/api/v1/users/api-keys/{key_id}")
def api_key(resources, owner):
    return {"key_id": apikeys.create(resources, owner["id"], name="tenancy", scopes=["read"])["id"]}
