"""The order lifecycle: a transition table (:data:`TRANSITIONS`) and one function,
:func:`transition`, that every status update goes through, whether it comes from the
simulated broker or from Alpaca; :func:`apply_fill` for a fill, :func:`overtaken` for an
update older than what is known. Statuses and orders are :mod:`workbench.orders`'.
"""

from __future__ import annotations

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.orders import Fill, Order, OrderStatus, build_order

__all__ = [
    "TRANSITIONS",
    "WAY_IN",
    "InvalidTransition",
    "apply_fill",
    "overtaken",
    "transition",
]

S = OrderStatus
_FILLED, _PARTIALLY_FILLED = S.FILLED, S.PARTIALLY_FILLED

#: Allowed status changes, as Alpaca's order lifecycle produces them (Orders at Alpaca,
#: "Order Lifecycle"; its other statuses are mapped onto these by the Alpaca adapter,
#: :data:`workbench.brokers.alpaca_orders.STATUS_MAP`). An order goes ``accepted`` (not
#: routed yet) -> ``pending_new`` (routed, not yet taken) -> ``new``; it "may be canceled
#: ... up until the point it reaches a state of either filled, canceled, or expired", so
#: ``pending_cancel`` and ``canceled`` follow any open status (a cancel of a routed order
#: that is not taken yet waits ``pending_cancel``), and so do the ends an exchange or the
#: time in force make (``rejected``, ``expired``). A fill may race a cancel request, so
#: ``pending_cancel`` can still end ``filled``, or go back to working when the venue
#: rejects the cancel (Alpaca's ``order_cancel_rejected``); ``pending_replace`` ends
#: ``replaced``, or filled when the fill came first, or back to working
#: (``order_replace_rejected``). Alpaca refuses to replace an order not routed yet ("order
#: isn't sent to exchange yet"), so neither ``accepted`` nor ``pending_new`` goes to
#: ``pending_replace``. A partial fill may be followed by more partial fills. A move
#: back to an earlier stage is not here: such an update is older than what the broker
#: has told already (:func:`overtaken`).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # Alpaca shows a working stop-loss leg as held until it fills
    S.HELD: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
        | {S.REJECTED, S.REPLACED, S.PENDING_REPLACE}
    ),
    S.PENDING_NEW: frozenset(
        {S.ACCEPTED, S.NEW, S.REJECTED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    S.ACCEPTED: frozenset(
        {S.NEW, S.REJECTED, S.CANCELED, S.PENDING_CANCEL, S.PENDING_NEW, S.EXPIRED}
    ),
    S.NEW: frozenset(
        {
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.PENDING_CANCEL,
            S.CANCELED,
            S.EXPIRED,
            S.REJECTED,
            S.REPLACED,
            S.PENDING_REPLACE,
        }
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.REPLACED}
        | {S.PENDING_REPLACE}
    ),
    # REJECTED: a cancel asked of an order routed but not taken yet (pending_new) may
    # meet the exchange's refusal of the order itself
    S.PENDING_CANCEL: frozenset(
        {S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED, S.NEW, S.HELD, S.REJECTED}
    ),
    S.PENDING_REPLACE: frozenset(
        {S.REPLACED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.NEW, S.HELD}
        | {S.REJECTED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REJECTED: frozenset(),
    S.REPLACED: frozenset(),
}

#: The stages of an order's way in, in order: not working yet (``accepted``,
#: ``pending_new``, a ``held`` leg), working, working with some filled. Every other open
#: status (a pending cancel or replace) comes after them all, an end after everything.
WAY_IN: dict[OrderStatus, int] = {
    S.ACCEPTED: 0,
    S.PENDING_NEW: 0,
    S.HELD: 0,
    S.NEW: 1,
    S.PARTIALLY_FILLED: 2,
}
_PAST_WAY_IN = max(WAY_IN.values()) + 1


def overtaken(current: OrderStatus, status: OrderStatus) -> bool:
    """Whether an update saying ``status`` is older than an order at ``current``: a move
    the lifecycle does not allow, back to an earlier stage of the order's way in (a late
    ``pending_new`` after ``new``, ``new`` after a partial fill) or anything open after
    an end. A trade stream has no sequence numbers and may deliver out of order: such an
    update tells nothing new and is dropped, where a move forward that the table does not
    allow (``canceled`` after ``filled``) is a real inconsistency."""
    if status in TRANSITIONS[current] or status is current:
        return False
    if current.is_terminal:
        return not status.is_terminal
    stage = WAY_IN.get(status)
    return stage is not None and stage < WAY_IN.get(current, _PAST_WAY_IN)


class InvalidTransition(WorkbenchError):
    """An order update that the lifecycle does not allow (a bug or a broker inconsistency)."""

    exit_code = 4


def transition(
    order: Order, status: OrderStatus, *, at: pd.Timestamp | None = None, reason: str = ""
) -> Order:
    """Return ``order`` moved to ``status``; raise :class:`InvalidTransition` if not allowed."""
    _check_move(order, status)
    return _moved(order, status, at or order.updated_at, reason)


def _check_move(order: Order, status: OrderStatus) -> None:
    """Raise :class:`InvalidTransition` unless the lifecycle allows ``order`` to ``status``."""
    if status not in TRANSITIONS[order.status]:
        raise InvalidTransition(
            f"order {order.id} ({order.symbol}): {order.status} -> {status} is not allowed",
            hint="allowed: " + (", ".join(sorted(TRANSITIONS[order.status])) or "none (terminal)"),
        )


def _moved(
    order: Order,
    status: OrderStatus,
    at: pd.Timestamp | None,
    reason: str,
    filled: float | None = None,
    average: float | None = None,
    commission: float | None = None,
) -> Order:
    """``order`` with a new status (and fill totals), built directly: the step of every
    order's life, several times cheaper than ``dataclasses.replace`` (a test holds the
    two equal)."""
    o = order
    return build_order(
        o.id, o.request, o.created_at, status, o.quantity,
        o.filled_quantity if filled is None else filled,
        o.average_price if average is None else average,
        o.commission if commission is None else commission,
        at, reason, o.parent_id, o.legs,
    )  # fmt: skip


def apply_fill(order: Order, fill: Fill, *, complete: bool) -> Order:
    """Return ``order`` with ``fill`` applied; ``complete`` says whether nothing remains."""
    total = order.filled_quantity + fill.quantity
    avg = (order.average_price * order.filled_quantity + fill.price * fill.quantity) / total
    status = _FILLED if complete else _PARTIALLY_FILLED
    _check_move(order, status)  # refuses a move the lifecycle does not allow
    return _moved(
        order, status, fill.time or order.updated_at, "", total, avg,
        order.commission + fill.commission,
    )  # fmt: skip
