"""accounts: broker accounts (credentials encrypted, views masked), limits, test, disable, delete."""

from autostock import accounts
from autostock.auth import client_ip, require_scope, require_session
from autostock.auth.headers import no_store
from autostock.contract import Request, Router, require_fields

router = Router()

NEW = {"broker": str}
NEW_OPTIONAL = {"account_number": str, "app_key": str, "app_secret": str, "account_password": str,
                "is_paper": bool, "label": str, "max_position_size": int, "max_daily_trades": int,
                "allowed_products": list, "starting_cash": int}
CHANGES = {"label": str, "max_position_size": int, "max_daily_trades": int, "allowed_products": list,
           "is_default": bool, "is_active": bool}


@router.route("GET", "/api/v1/trading/accounts")
def list_accounts(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "read")
    return 200, {"accounts": accounts.list_accounts(req.resources, req.principal.user_id)}


@router.route("POST", "/api/v1/trading/accounts")
def create_account(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), NEW, NEW_OPTIONAL)
    require_session(req.principal)
    return 201, accounts.create_account(req.resources, req.principal.user_id, **body, ip=client_ip(req.event))


@router.route("GET", "/api/v1/trading/accounts/<account_id>")
def get_account(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "read")
    return 200, accounts.get_account(req.resources, req.principal.user_id, req.params["account_id"])


@router.route("PATCH", "/api/v1/trading/accounts/<account_id>")
def update_account(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {}, CHANGES)
    require_session(req.principal)
    return 200, accounts.update_account(req.resources, req.principal.user_id, req.params["account_id"],
                                        **body, ip=client_ip(req.event))


@router.route("POST", "/api/v1/trading/accounts/<account_id>/test")
def check_account(req: Request) -> tuple[int, dict]:
    require_fields(req.json(), {})
    require_scope(req.principal, "read")
    return 200, accounts.check_connection(req.resources, req.principal.user_id, req.params["account_id"])


@router.route("POST", "/api/v1/trading/accounts/<account_id>/disable")
def disable_account(req: Request) -> tuple[int, dict]:
    require_fields(req.json(), {})
    require_session(req.principal)
    return 200, accounts.disable_account(req.resources, req.principal.user_id, req.params["account_id"],
                                         ip=client_ip(req.event))


@router.route("DELETE", "/api/v1/trading/accounts/<account_id>")
def delete_account(req: Request) -> tuple[int, dict]:
    require_session(req.principal)
    accounts.delete_account(req.resources, req.principal.user_id, req.params["account_id"], ip=client_ip(req.event))
    return 200, {"ok": True}


handle = no_store(router.handle)
