"""place-order: validate → claim the idempotency key → risk → record → route to the broker.

With a broker over the network, two short transactions around one broker call:

1. claim the key, lock the user and the account's books, check the request and every risk
   rule, insert the order as `pending_new` with its reservation — commit;
2. call the broker (never retried: a lost answer makes the order `unknown`);
3. record the broker's answer (accepted / rejected / unknown, and any immediate fills), store
   the response under the key — commit — then publish `orders.<event>`.

With a broker whose books are in our database (paper; `Desk.places_in_transaction`), steps
2 and 3 happen inside transaction 1: the broker places (and fills) first, then the order is
inserted as the broker's answer left it, and its fills applied. One commit records, places,
fills and settles, so nothing is ever half done (no `pending_new` left by a crash, no
`unknown`), and the order costs one transaction where it took three (ours and the paper
broker's own).

A second request with the same key waits for the first's stored answer and returns it
without calling the broker (style.md convention 6).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from autostock import db, risk
from autostock.brokers.base import OrderAck, OrderRequest, OrderState, OrderType, Side, UnknownOutcome
from autostock.errors import AppError, BrokerRejected, BrokerUnavailable, Conflict
from autostock.market import calendar
from autostock.orders import book, context, directory, idempotency, kill_switch, lifecycle, pricing, views
from autostock.orders.desk import AccountTerms, Desk
from autostock.orders.sync import apply_status, request_of

log = logging.getLogger("autostock.orders")

FIELDS = {"account_id": str, "symbol": str, "side": str, "quantity": int, "order_type": str,
          "type": str, "price": int, "time_in_force": str, "client_order_id": str}
REQUIRED = ("symbol", "side", "quantity")
# The unique keys a second order with a used client_order_id runs into: ours, or the broker's
# order id (a broker answers a client_order_id it has seen with that earlier order).
DUPLICATE_ORDER_KEYS = frozenset({"orders_account_id_client_order_id_key", "orders_broker_order"})


@dataclass(frozen=True)
class NewOrder:
    """A parsed, shape-checked order request."""

    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    price: int
    time_in_force: str
    account_id: str | None
    client_order_id: str | None


def parse(body: dict[str, Any]) -> NewOrder:
    """Shape checks that need nothing but the body (400 naming the field)."""
    from autostock.contract import require_fields
    data = require_fields(body, {k: FIELDS[k] for k in REQUIRED},
                          {k: v for k, v in FIELDS.items() if k not in REQUIRED})
    return NewOrder(
        symbol=pricing.symbol_of(data["symbol"]),
        side=pricing.choice(Side, data["side"], "side"),
        quantity=pricing.positive_quantity(data["quantity"]),
        order_type=pricing.choice(OrderType, data.get("order_type") or data.get("type") or "limit",
                                  "order_type"),
        price=int(data.get("price") or 0),
        time_in_force=pricing.time_in_force(data.get("time_in_force")),
        account_id=data.get("account_id"),
        client_order_id=pricing.client_order_id(data.get("client_order_id")),
    )


@dataclass
class _Recorded:
    order: dict[str, Any]
    account: AccountTerms
    events: list[lifecycle.OrderEvent]
    response: dict[str, Any] | None = None   # placed and settled in the same transaction: the answer


class _NeedsBooks(Exception):
    """The account has no books yet: open them (asking its broker for the cash) and retry."""

    def __init__(self, account: AccountTerms) -> None:
        super().__init__(account.id)
        self.account = account


class _NoDefaultAccount(Exception):
    """The user has no default account yet (identity makes the paper one on first need)."""


class _KeyTaken(Exception):
    """Another request holds (or held) the idempotency key: answer with its stored response."""


class _Refused(Exception):
    """The broker refused an order placed inside our transaction, after writing its half: roll
    everything back, then record the refusal in a transaction of its own."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.code)
        self.error = error


def place_order(desk: Desk, user_id: str, body: dict[str, Any],
                idempotency_key: str | None = None) -> tuple[int, dict[str, Any]]:
    """Place an order for `user_id`; returns (201, order) or the first answer for the key."""
    order = parse(body)
    key = pricing.client_order_id(idempotency_key) if idempotency_key else order.client_order_id
    fingerprint = idempotency.request_hash(body) if key else ""
    try:
        recorded = _record_once_ready(desk, user_id, order, key, fingerprint)
    except _KeyTaken:
        return idempotency.replay(desk.resources.pool, user_id, key, fingerprint)
    except psycopg.errors.UniqueViolation as e:
        if e.diag.constraint_name not in DUPLICATE_ORDER_KEYS:
            raise  # e.g. a broker fill id seen before on a new order: a fault, not the caller's
        raise Conflict("an order with this client_order_id already exists on the account",
                       code="duplicate_client_order_id") from e
    _publish(desk, recorded.events)
    if recorded.response is not None:
        return 201, recorded.response
    return _route(desk, recorded, key)


def _record_once_ready(desk: Desk, user_id: str, order: NewOrder, key: str | None,
                       fingerprint: str) -> _Recorded:
    """Record the order; the first order of a user or an account sets things up once first."""
    refused: AppError | None = None
    for _ in range(4):
        try:
            return _record(desk, user_id, order, key, fingerprint, refused)
        except _Refused as e:
            refused = e.error
        except _NoDefaultAccount:
            from autostock import accounts  # identity makes the paper account on first need
            accounts.default_account(desk.resources, user_id)
        except _NeedsBooks as e:
            _open_books(desk, e.account)
    raise Conflict("the account could not be prepared for trading; retry", code="account_not_ready")


def _open_books(desk: Desk, account: AccountTerms) -> None:
    """Open the account's books at the broker's cash (the first time we trade it)."""
    broker = desk.broker_for(account)
    broker.connect()
    cash = broker.balance().cash
    with db.tenant(desk.resources.pool, account.user_id) as conn:
        book.open_book(conn, account.user_id, account.id, cash)


def _record(desk: Desk, user_id: str, order: NewOrder, key: str | None, fingerprint: str,
            refused: AppError | None = None) -> _Recorded:
    now = desk.now()
    with db.tenant(desk.resources.pool, user_id) as conn:
        # The key first, before any lock: a retry of a finished request stops here.
        if key and not idempotency.claim(conn, user_id, key, fingerprint):
            raise _KeyTaken()
        found = context.lock(conn, user_id, order.account_id, order.symbol)
        user = found.user()
        account = found.account()
        if account is None:
            raise _NoDefaultAccount()
        risk.gate(user, account, found.kill_switches)
        instrument = found.instrument()
        directory.check_account_usable(account, instrument)
        if not (desk.resources.settings.market_always_open or calendar.is_open(now)):
            raise BrokerRejected(f"KRX is not in its regular session at {now:%Y-%m-%d %H:%M} KST",
                                 code="market_closed", details={"at": now.isoformat()})
        priced = pricing.price_order(desk, account, instrument, order.order_type, order.side,
                                     order.quantity, order.price, on=now.date())
        books = found.books()
        if books is None:
            raise _NeedsBooks(account)
        cash, max_daily_loss = books
        ticket = risk.Ticket(order.symbol, order.side.value, order.quantity, priced.reserve_price,
                             priced.reservation)
        seen = risk.exposure(conn, user_id, account.id, order.symbol, now.date())
        risk.evaluate(user=user, account=account, cash=cash, max_daily_loss=max_daily_loss, ticket=ticket,
                      seen=seen, mark_price=priced.mark_price)
        columns = dict(
            user_id=user_id, account_id=account.id,
            client_order_id=order.client_order_id or key or uuid.uuid4().hex, symbol=order.symbol,
            market=instrument.market, product=instrument.product, side=order.side.value,
            order_type=order.order_type.value,
            time_in_force=order.time_in_force, quantity=order.quantity, price=priced.price,
            reserve_price=priced.reserve_price, reserved_cash=priced.reservation,
            reserved_quantity=order.quantity if order.side is Side.SELL else 0, broker=account.broker,
            trading_day=now.date())
        if desk.places_in_transaction(account):
            holding = book.Holding(seen.position_rows > 0, seen.held, seen.held_cost)
            return _place_here(conn, desk, account, columns, key, holding, refused)
        row, events = lifecycle.create(conn, **columns)
        if key:
            idempotency.attach_order(conn, user_id, key, str(row["id"]))
    return _Recorded(row, account, events)


def _place_here(conn: psycopg.Connection, desk: Desk, account: AccountTerms, columns: dict[str, Any],
                key: str | None, holding: book.Holding, refused: AppError | None) -> _Recorded:
    """Place inside the transaction, then record the order as the broker's answer left it (one
    insert, with its immediate fill, not an insert and an update per step).

    A refusal (BrokerRejected, or the request's shape) comes after the broker wrote its half,
    so the whole transaction is rolled back (`_Refused`) and the order is recorded as rejected
    by the next attempt (`refused`), which places nothing."""
    if refused is not None:
        order, events = lifecycle.create(
            conn, ((OrderState.REJECTED, {"code": refused.code}),), reject_code=refused.code,
            reject_reason=refused.message[:500], **{**columns, "reserved_cash": 0, "reserved_quantity": 0})
    else:
        try:
            ack = desk.broker_for(account).place_order_in(conn, request_of(columns))
        except AppError as e:
            raise _Refused(e) from e
        order, events = _record_ack(conn, desk, columns, ack, holding)
    response = views.order(order)
    if key:
        idempotency.complete(conn, account.user_id, key, 201, response, order_id=str(order["id"]))
    return _Recorded(order, account, events, response)


def _record_ack(conn: psycopg.Connection, desk: Desk, columns: dict[str, Any], ack: OrderAck,
                holding: book.Holding) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    """Insert the order the broker accepted; an immediate fill goes in with it (one statement)."""
    fill = book.only_fill(ack.status)
    if fill is not None:
        return book.create_filled(conn, columns, broker_order_id=ack.broker_order_id, fill=fill,
                                  costs=desk.costs, on=desk.today(), holding=holding)
    order, events = lifecycle.create(conn, ((OrderState.ACCEPTED, {}),), broker_order_id=ack.broker_order_id,
                                     **columns)
    if ack.status is not None:
        order, more = apply_status(conn, order, ack.status, desk.costs, on=desk.today(), holding=holding)
        events += more
    return order, events


def _route(desk: Desk, recorded: _Recorded, key: str | None) -> tuple[int, dict[str, Any]]:
    order, account = recorded.order, recorded.account
    try:
        kill_switch.check_not_halted(desk.resources.pool, account.user_id)
    except AppError as halted:  # engaged since the order was recorded: it must not reach the broker
        outcome, detail, status = "rejected", halted, None
    else:
        outcome, detail, status = _send(desk.broker_for(account), request_of(order))
    with db.tenant(desk.resources.pool, account.user_id) as conn:
        current = book.lock_order(conn, account.id, str(order["id"]))
        current, events = _settle(conn, desk, current, outcome, detail, status)
        response = views.order(current)
        if key:
            idempotency.complete(conn, account.user_id, key, 201, response)
    _publish(desk, events)
    return 201, response


def _send(broker: Any, request: OrderRequest) -> tuple[str, Any, Any]:
    """Send once. Returns (outcome, ack or error, status after the ack)."""
    try:
        ack = broker.place_order(request)
    except UnknownOutcome as e:
        return "unknown", e, None
    except (BrokerRejected, BrokerUnavailable) as e:
        # BrokerUnavailable (not UnknownOutcome) means the request never left: safe to reject.
        return "rejected", e, None
    except AppError as e:  # the broker refused the request's shape (its own validation)
        return "rejected", e, None
    except Exception as e:  # anything else after sending: we cannot know, so we ask later
        log.exception("order send failed; marking unknown", extra={"error": type(e).__name__})
        return "unknown", e, None
    if ack.status is not None:
        return "accepted", ack, ack.status
    try:
        status = broker.order_status(ack.broker_order_id)
    except Exception:  # the ack is what matters; fills arrive by event or reconciliation
        status = None
    return "accepted", ack, status


def _settle(conn: psycopg.Connection, desk: Desk, order: dict[str, Any], outcome: str, detail: Any,
            status: Any) -> tuple[dict[str, Any], list[lifecycle.OrderEvent]]:
    if order["state"] != OrderState.PENDING_NEW.value:
        return order, []  # reconciliation (or expiry) got here first; its word stands
    if outcome == "rejected":
        order, ev = lifecycle.transition(conn, order, OrderState.REJECTED, reserved_cash=0,
                                         reserved_quantity=0, reject_code=detail.code,
                                         reject_reason=detail.message[:500],
                                         data={"code": detail.code})
        return order, [ev]
    if outcome == "unknown":
        order, ev = lifecycle.transition(conn, order, OrderState.UNKNOWN,
                                         data={"error": getattr(detail, "code", type(detail).__name__)})
        return order, [ev]
    order, ev = lifecycle.transition(conn, order, OrderState.ACCEPTED,
                                     broker_order_id=detail.broker_order_id,
                                     accepted_at=lifecycle.NOW)
    events = [ev]
    if status is not None:
        order, more = apply_status(conn, order, status, desk.costs, on=desk.today())
        events += more
    return order, events


def _publish(desk: Desk, events: list[lifecycle.OrderEvent]) -> None:
    for ev in events:
        desk.publish(ev.event, views.event_payload(ev))
