"""Orders: idempotent entry, the state machine, fills into positions and cash, reconciliation.

Public surface: `place_order`, `cancel_order`, `modify_order`, the read queries, and the
`Desk` that carries the clock and the broker routing.
"""

from autostock.orders import kill_switch
from autostock.orders.changes import cancel_order, modify_order, parse_modify
from autostock.orders.desk import AccountTerms, Desk, current, fixed_clock, install
from autostock.orders.entry import place_order
from autostock.orders.queries import fills_history, get_order, list_orders, positions
from autostock.orders.reconcile import on_fill_message, reconcile_open_orders

__all__ = ["AccountTerms", "kill_switch", "Desk", "cancel_order", "current", "fills_history", "fixed_clock",
           "get_order", "install", "list_orders", "modify_order", "on_fill_message", "parse_modify",
           "place_order", "positions", "reconcile_open_orders"]
