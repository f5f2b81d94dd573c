"""Inbound order signals (TradingView-style alerts, scripts) that become orders.

A user creates a hook bound to one of their accounts, with a secret and limits. A call must
prove it knows the secret, either by signing (`X-AutoStock-Timestamp` +
`X-AutoStock-Signature`, the same recipe as our outbound webhooks) or, for senders that
cannot sign (TradingView), by carrying the hook's secret as `token` in the JSON with a
`timestamp`. Either way the call must be fresh (five minutes) and carry a payload `id`; a
seen id is refused, and the order's idempotency key is the hook id + payload id, so even two
copies racing each other place one order. The order then takes the normal order path with
all its risk checks.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import time
from typing import Any

from autostock import crypto, db, orders
from autostock.contract import parse_json_object, require_fields
from autostock.errors import AuthError, Conflict, NotFound, ValidationError
from autostock.market.quotes import read_quote
from autostock.notify import signing
from autostock.resources import Resources

REPLAY_WINDOW = signing.TOLERANCE_SECONDS
SEEN_TTL = 2 * 86400
_UUID = re.compile(r"^[0-9a-fA-F-]{36}$")
_PAYLOAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")

def _hook_id(value: str) -> str:
    if not _UUID.match(value):
        raise NotFound("no such hook", code="hook_not_found")
    return value


def create_hook(resources: Resources, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Create a hook; its secret is in this answer only."""
    clean = require_fields(data, {"account_id": str},
                           {"name": str, "max_quantity": int, "max_notional": int, "allowed_symbols": list})
    for name in ("max_quantity", "max_notional"):
        if name in clean and clean[name] <= 0:
            raise ValidationError(f"{name} must be positive", details={"field": name})
    symbols = clean.get("allowed_symbols")
    if symbols is not None and not all(isinstance(s, str) and re.match(r"^[0-9A-Z]{6}$", s) for s in symbols):
        raise ValidationError("allowed_symbols must be 6-character KRX codes", details={"field": "allowed_symbols"})
    secret = "whk_" + secrets.token_urlsafe(32)
    with db.tenant(resources.pool, user_id) as conn:
        owned = conn.execute("SELECT 1 FROM broker_accounts WHERE id::text = %s AND user_id = %s",
                             (clean["account_id"], user_id)).fetchone()
        if owned is None:
            raise NotFound("no such account", code="account_not_found")
        row = conn.execute(
            "INSERT INTO order_hooks (user_id, account_id, name, secret_enc, max_quantity, max_notional,"
            " allowed_symbols) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id, account_id, name,"
            " max_quantity, max_notional, allowed_symbols, is_active, created_at",
            (user_id, clean["account_id"], clean.get("name", ""),
             crypto.encrypt(resources.settings.encryption_keys, secret), clean.get("max_quantity", 100),
             clean.get("max_notional", 10_000_000), symbols)).fetchone()
    hook = _public(row)
    return {**hook, "secret": secret, "url": f"/api/v1/webhooks/orders/{hook['id']}"}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "secret_enc"}
    for name in ("id", "account_id"):
        out[name] = str(out[name]) if out.get(name) else None
    for name in ("created_at", "last_used_at"):
        if out.get(name):
            out[name] = out[name].isoformat()
    return out


def list_hooks(resources: Resources, user_id: str) -> list[dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        rows = conn.execute(
            "SELECT id, account_id, name, max_quantity, max_notional, allowed_symbols, is_active, last_used_at,"
            " created_at FROM order_hooks WHERE user_id = %s ORDER BY created_at", (user_id,)).fetchall()
    return [_public(r) for r in rows]


def delete_hook(resources: Resources, user_id: str, hook_id: str) -> None:
    with db.tenant(resources.pool, user_id) as conn:
        if not conn.execute("DELETE FROM order_hooks WHERE id = %s AND user_id = %s",
                            (_hook_id(hook_id), user_id)).rowcount:
            raise NotFound("no such hook", code="hook_not_found")


def calls(resources: Resources, user_id: str, hook_id: str, limit: int = 50) -> list[dict[str, Any]]:
    with db.tenant(resources.pool, user_id) as conn:
        # Another user's hook is "not found", not an empty list (tests/auth/test_tenancy.py).
        if conn.execute("SELECT 1 FROM order_hooks WHERE id = %s AND user_id = %s",
                        (_hook_id(hook_id), user_id)).fetchone() is None:
            raise NotFound("no such hook", code="hook_not_found")
        rows = conn.execute(
            "SELECT payload_id, outcome, order_id, detail, called_at FROM order_hook_calls"
            " WHERE hook_id = %s AND user_id = %s ORDER BY id DESC LIMIT %s",
            (_hook_id(hook_id), user_id, limit)).fetchall()
    return [{**r, "order_id": str(r["order_id"]) if r["order_id"] else None,
             "called_at": r["called_at"].isoformat()} for r in rows]


def _authenticate(secret: str, headers: Any, body: bytes, payload: dict[str, Any], now: float) -> None:
    if headers.get(signing.SIGNATURE_HEADER):
        problem = signing.verify(secret, headers.get(signing.TIMESTAMP_HEADER),
                                 headers.get(signing.SIGNATURE_HEADER), body, now=now)
        if problem:
            raise AuthError("the signal's signature is not valid", code=problem)
        return
    token, stamp = payload.get("token"), payload.get("timestamp")
    if not isinstance(token, str) or not hmac.compare_digest(token, secret):
        raise AuthError("the signal must be signed or carry the hook's token", code="missing_signature")
    try:
        sent = float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) \
            else dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError as e:
        raise AuthError("timestamp must be unix seconds or ISO 8601", code="bad_timestamp") from e
    if abs(now - sent) > REPLAY_WINDOW:
        raise AuthError("the signal is too old or from the future", code="expired_signature")


def _order_fields(payload: dict[str, Any]) -> dict[str, Any]:
    fields = require_fields(
        {k: v for k, v in payload.items() if k not in ("id", "token", "timestamp")},
        {"symbol": str, "side": str},
        {"quantity": int, "percent_of_equity": int, "type": str, "order_type": str, "price": int})
    if ("quantity" in fields) == ("percent_of_equity" in fields):
        raise ValidationError("give exactly one of quantity or percent_of_equity", details={"field": "quantity"})
    if "percent_of_equity" in fields and not 1 <= fields["percent_of_equity"] <= 100:
        raise ValidationError("percent_of_equity must be within 1..100", details={"field": "percent_of_equity"})
    fields["order_type"] = fields.pop("type", None) or fields.get("order_type") or "market"
    return fields


def receive(resources: Resources, hook_id: str, headers: Any, body: bytes, *,
            now: float | None = None) -> tuple[int, dict[str, Any]]:
    """Check a signal and turn it into one order; returns the order path's answer."""
    now = now if now is not None else time.time()
    with db.service(resources.pool) as conn:
        hook = conn.execute("SELECT * FROM order_hooks WHERE id = %s AND is_active",
                            (_hook_id(hook_id),)).fetchone()
    if hook is None:
        raise NotFound("no such hook", code="hook_not_found")
    payload = parse_json_object(body)
    secret = crypto.decrypt(resources.settings.encryption_keys, hook["secret_enc"])
    _authenticate(secret, headers, body, payload, now)
    payload_id = payload.get("id")
    if not isinstance(payload_id, str) or not _PAYLOAD_ID.match(payload_id):
        raise ValidationError("the signal needs an id (1-100 of A-Z a-z 0-9 _ . : -)", details={"field": "id"})
    fields = _order_fields(payload)
    user_id, account_id = str(hook["user_id"]), str(hook["account_id"])
    reference = fields.get("price") or _last_price(resources, fields["symbol"])
    if "percent_of_equity" in fields:
        fields["quantity"] = _size(resources, user_id, account_id, fields.pop("percent_of_equity"), reference)
    _check_limits(hook, fields, reference)
    seen = resources.redis.set(resources.settings.redis_key("hook-seen", hook_id, payload_id), "1",
                               nx=True, ex=SEEN_TTL)
    if not seen:
        _log(resources, hook, payload_id, "replayed", None, "payload id already used")
        raise Conflict("this signal id was already received", code="signal_replayed")
    fields["account_id"] = account_id
    status, order = orders.place_order(orders.current(resources), user_id, fields, f"hook:{hook_id}:{payload_id}")
    _log(resources, hook, payload_id, order.get("status", "placed"), order.get("id"), order.get("reject_reason") or "")
    return status, order


def _last_price(resources: Resources, symbol: str) -> int:
    quote = read_quote(resources.redis, resources.settings, symbol)
    if quote is None or quote.price <= 0:
        raise ValidationError("no current price for this symbol; send a limit price", code="no_quote",
                              details={"field": "price"})
    return quote.price


def _size(resources: Resources, user_id: str, account_id: str, percent: int, price: int) -> int:
    from autostock.orders import directory
    from autostock.portfolio import summary
    held = summary(resources, user_id, account_id)
    equity = int(held["total_equity"])
    if not held["accounts"]:  # never traded here: the broker's own balance is the truth
        with db.tenant(resources.pool, user_id) as conn:
            terms = directory.account_terms(conn, user_id, account_id)
        broker = orders.current(resources).broker_for(terms)
        broker.connect()
        balance = broker.balance()
        equity = balance.total_equity or balance.cash
    quantity = equity * percent // 100 // price
    if quantity <= 0:
        raise ValidationError(f"{percent}% of equity buys no share at {price:,} KRW", code="hook_limit",
                              details={"field": "percent_of_equity"})
    return quantity


def _check_limits(hook: dict[str, Any], fields: dict[str, Any], reference_price: int) -> None:
    if fields["quantity"] <= 0:
        raise ValidationError("quantity must be positive", details={"field": "quantity"})
    if fields["quantity"] > hook["max_quantity"]:
        raise ValidationError(f"quantity is over this hook's limit of {hook['max_quantity']}",
                              code="hook_limit", details={"field": "quantity"})
    if reference_price * fields["quantity"] > hook["max_notional"]:
        raise ValidationError(f"order value is over this hook's limit of {hook['max_notional']:,} KRW",
                              code="hook_limit", details={"field": "price"})
    if hook["allowed_symbols"] and fields["symbol"] not in hook["allowed_symbols"]:
        raise ValidationError("this hook may not trade that symbol", code="hook_limit",
                              details={"field": "symbol"})


def _log(resources: Resources, hook: dict[str, Any], payload_id: str, outcome: str,
         order_id: str | None, detail: str) -> None:
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO order_hook_calls (hook_id, user_id, payload_id, outcome, order_id, detail)"
                     " VALUES (%s, %s, %s, %s, %s, %s)",
                     (hook["id"], hook["user_id"], payload_id, outcome, order_id, detail))
        conn.execute("UPDATE order_hooks SET last_used_at = now() WHERE id = %s", (hook["id"],))
