"""auth: register, login, refresh, logout, me, 2FA; profile, settings, API keys, password."""

from autostock.auth import client_ip, require_scope, require_session, sessions, twofactor, users
from autostock.auth import apikeys
from autostock.auth.headers import no_store
from autostock.contract import Request, Router, require_fields

router = Router()


@router.route("POST", "/api/v1/auth/register")
def register(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"email": str, "username": str, "password": str})
    return 201, users.register(req.resources, **body, ip=client_ip(req.event))


@router.route("POST", "/api/v1/auth/login")
def login(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"username": str, "password": str},
                          {"totp_code": str, "recovery_code": str})
    return 200, sessions.login(req.resources, **body, ip=client_ip(req.event))


@router.route("POST", "/api/v1/auth/refresh")
def refresh(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"refresh_token": str})
    return 200, sessions.refresh(req.resources, body["refresh_token"], ip=client_ip(req.event))


@router.route("POST", "/api/v1/auth/logout")
def logout(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {}, {"refresh_token": str})
    return 200, sessions.logout(req.resources, req.principal, body.get("refresh_token"), ip=client_ip(req.event))


@router.route("GET", "/api/v1/auth/me")
def me(req: Request) -> tuple[int, dict]:
    principal = req.principal
    return 200, {**users.profile(req.resources, principal.user_id), "scopes": sorted(principal.scopes),
                 "via": principal.via}


@router.route("POST", "/api/v1/auth/2fa/setup")
def totp_setup(req: Request) -> tuple[int, dict]:
    require_fields(req.json(), {})
    require_session(req.principal)
    return 200, twofactor.setup(req.resources, req.principal.user_id)


@router.route("POST", "/api/v1/auth/2fa/enable")
def totp_enable(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"code": str})
    require_session(req.principal)
    return 200, twofactor.enable(req.resources, req.principal.user_id, body["code"], ip=client_ip(req.event))


@router.route("POST", "/api/v1/auth/2fa/disable")
def totp_disable(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"password": str, "code": str})
    require_session(req.principal)
    return 200, twofactor.disable(req.resources, req.principal.user_id, body["password"], body["code"],
                                  ip=client_ip(req.event))


@router.route("GET", "/api/v1/users/profile")
def get_profile(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "read")
    return 200, users.profile(req.resources, req.principal.user_id)


@router.route("PATCH", "/api/v1/users/profile")
def patch_profile(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {}, {"display_name": str, "email": str})
    require_session(req.principal)
    return 200, users.update_profile(req.resources, req.principal.user_id, **body, ip=client_ip(req.event))


@router.route("POST", "/api/v1/users/password")
def change_password(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"current_password": str, "new_password": str})
    require_session(req.principal)
    users.change_password(req.resources, req.principal.user_id, body["current_password"], body["new_password"],
                          ip=client_ip(req.event))
    return 200, {"ok": True}


@router.route("GET", "/api/v1/users/settings")
def get_settings(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "read")
    return 200, users.settings_of(req.resources, req.principal.user_id)


@router.route("PATCH", "/api/v1/users/settings")
def patch_settings(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {}, {"language": str, "timezone": str, "preferences": dict,
                                           "ip_allowlist": list})
    require_session(req.principal)
    return 200, users.update_settings(req.resources, req.principal.user_id, **body, ip=client_ip(req.event))


@router.route("GET", "/api/v1/users/api-keys")
def list_api_keys(req: Request) -> tuple[int, dict]:
    require_scope(req.principal, "read")
    return 200, {"api_keys": apikeys.list_keys(req.resources, req.principal.user_id)}


@router.route("POST", "/api/v1/users/api-keys")
def create_api_key(req: Request) -> tuple[int, dict]:
    body = require_fields(req.json(), {"name": str, "scopes": list}, {"signed": bool, "expires_in_days": int})
    require_session(req.principal)
    return 201, apikeys.create(req.resources, req.principal.user_id, **body, ip=client_ip(req.event))


@router.route("DELETE", "/api/v1/users/api-keys/<key_id>")
def revoke_api_key(req: Request) -> tuple[int, dict]:
    require_session(req.principal)
    apikeys.revoke(req.resources, req.principal.user_id, req.params["key_id"], ip=client_ip(req.event))
    return 200, {"ok": True}


handle = no_store(router.handle)
