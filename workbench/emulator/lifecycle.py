"""Alpaca's order statuses between a request and the venue acting on it.

What Alpaca documents (Orders at Alpaca, "Order Lifecycle"; Websocket Streaming,
``trade_updates``), and what the emulator makes of it on its bar clock. Nothing here
waits on a timer: a pending request is settled by the step that processes the next
session's first bar, before that bar is matched, or by the bar that ends the order.

- ``accepted``: "received by Alpaca, but hasn't yet been routed to the execution venue.
  This could be seen often outside of trading session hours." ``POST /v2/orders``
  answers ``accepted``; an order sent while the market is closed reads ``accepted``
  until the session opens, when its ``new`` event goes out. Bars outside the regular
  session (pre- and after-market minutes in the replay) work only ``extended_hours``
  orders, which are routed at once; the others wait for the open, as Alpaca queues
  orders "not eligible to be executed during extended hours".
- ``pending_cancel``: "waiting to be canceled"; its event: "Most cancelations will occur
  without the order entering this state." While the market is open a cancel acts at
  once (``canceled``), and so does the cancel of an order not yet routed. While it is
  closed, a routed order (a gtc order, a held leg) waits for the open, as Alpaca's
  staff describe it ("orders cancelled after market hours ... remain in a pending
  cancel state until the following market open"): ``pending_cancel``, then
  ``canceled`` before the session's first bar. An ``opg``/``cls`` order past its
  cut-off cannot be canceled any more (the exchanges' auction rules): it stays
  ``pending_cancel`` until its auction fills or expires it, then the venue's refusal
  goes out as ``order_cancel_rejected`` ("Sent when the order cancel has been
  rejected") with the order as it ended. The same event answers a cancel that arrives
  while the order is ``pending_replace`` ("The order will reject cancel request while
  in this state"); the request itself is answered 204, as Alpaca answers a cancel it
  has accepted to try.
- ``pending_replace``: "waiting to be replaced by another order". While the market is
  open a replace acts at once: the old order's ``pending_replace`` then ``replaced``
  events, then the new order's ``new``. While it is closed the old order reads
  ``pending_replace`` until the open, when its ``replaced`` event goes out, followed by
  the new order's ``new`` (the new one reads ``accepted`` till then, like any order
  sent while the market is closed).

Not emitted, each for a reason: ``accepted`` as an event (the status is shown; the
trade stream's reference lists no such event, only the SSE events API), ``pending_new``
(the venue takes an order at once), ``done_for_day`` and ``calculated`` (settlement
states: Alpaca's paper venue ends an unfilled day order ``expired``), ``stopped`` and
``suspended`` (exchange actions the replay has no cause for), ``order_replace_rejected``
(a replace is checked when it is asked and refused then: 422).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.broker import OrderUpdate
from workbench.emulator import tif
from workbench.emulator.ledger import fill_activity
from workbench.emulator.shapes import OrderRecord, order_json, trade_update
from workbench.orders import Leg, Order

if TYPE_CHECKING:
    from workbench.emulator.venue import Venue

Message = dict[str, Any]


@dataclass
class Lifecycle:
    """The requests the venue has not acted on yet, by Alpaca order id."""

    queued: set[str] = field(default_factory=set)  # sent while closed: "accepted"
    queued_new: list[Message] = field(default_factory=list)  # their "new" events
    canceling: set[str] = field(default_factory=set)  # "pending_cancel"
    replacing: list[str] = field(default_factory=list)  # "pending_replace", oldest first

    def unqueue(self, rec_id: str) -> None:
        """Forget the queued ``new`` event of an order that ended before the open."""
        if rec_id in self.queued:
            self.queued.discard(rec_id)
            self.queued_new = [m for m in self.queued_new if m["data"]["order"]["id"] != rec_id]

    def shown(self, rec_id: str, order: Order) -> str | None:
        """The status Alpaca shows for ``order`` while a request waits (None: its own)."""
        if rec_id in self.replacing:
            return "pending_replace"
        if not order.status.is_open:
            return None
        if rec_id in self.canceling:
            return "pending_cancel"
        if rec_id in self.queued:
            return "accepted"
        return None


def queue_new(venue: Venue, messages: list[Message]) -> list[Message]:
    """While the market is closed, hold the ``new`` events until it opens (an
    ``extended_hours`` order is routed at once: it may trade outside the session)."""
    if not venue.market_closed():
        return messages
    held = [
        m for m in messages
        if m["data"]["event"] == "new" and not m["data"]["order"]["extended_hours"]
    ]  # fmt: skip
    venue.pending.queued_new += held
    venue.pending.queued.update(m["data"]["order"]["id"] for m in held)
    return [m for m in messages if not any(m is h for h in held)]


def routed_at(venue: Venue) -> pd.Timestamp | None:
    """The simulated broker's time to send a regular-hours order at while the market is
    closed: just before the next open, so that no bar before it works the order."""
    if not venue.market_closed():
        return None
    opens = venue.replay.sessions.next_open(venue.now)
    return None if opens is None else opens - pd.Timedelta(1, "ns")


def extended(venue: Venue, symbol: str) -> bool:
    """Whether an open order of ``symbol`` may trade outside the regular session: only one
    sent with ``extended_hours`` (orders "not eligible to be executed during extended hours
    will be queued ... for execution at the time of the next market open")."""
    return any(
        venue.records[venue.sim_ids[o.id]].extended_hours
        for o in venue.broker.get_open_orders()
        if o.symbol == symbol and o.id in venue.sim_ids
    )


def event(venue: Venue, name: str, rec: OrderRecord, at: pd.Timestamp) -> Message:
    """A trade update of ``name`` for ``rec``'s order as Alpaca shows it now."""
    rec.updated_at = at
    order = venue.broker.get_order(rec.sim_id)
    return trade_update(name, venue.order_doc(order, rec, nested=False), at)


def must_wait(venue: Venue, rec: OrderRecord, *, closing: bool = False) -> bool:
    """Whether a cancel of ``rec``'s (open) order waits: the market is closed and the order
    was routed, or it is an auction order past its cut-off. ``closing``: the cancels of
    ``DELETE /v2/positions?cancel_orders=true``, which the venue makes itself before the
    closing orders it sends, wait only for an auction."""
    plan = venue.tifs.plans.get(rec.sim_id)
    if locked(plan, venue.now.value):
        return True
    return not closing and venue.market_closed() and rec.id not in venue.pending.queued


def locked(plan: tif.Plan | None, t_ns: int) -> bool:
    return plan is not None and plan.locked_ns is not None and t_ns >= plan.locked_ns


def at_open(venue: Venue, t: pd.Timestamp) -> list[Message]:
    """Before the first bar of a session (``t``): the waiting cancels and replaces act,
    then the orders sent while the market was closed go out (``new``)."""
    pending = venue.pending
    out = []
    replacing, pending.replacing = pending.replacing, []
    for rec_id in replacing:
        rec = venue.records[rec_id]
        rec.replaced_at = t
        out.append(event(venue, "replaced", rec, t))
    for rec_id in sorted(pending.canceling, key=lambda i: venue.records[i].seq):
        rec = venue.records[rec_id]
        order = venue.broker.get_order(rec.sim_id)
        if not order.status.is_open or locked(venue.tifs.plans.get(rec.sim_id), t.value):
            continue  # settled after the bar (order_cancel_rejected) or at its auction
        pending.canceling.discard(rec_id)
        venue.broker.set_time(t)
        venue.broker.cancel_order(rec.sim_id)
        venue.broker.set_time(venue.replay.stamp)
    out += render(venue, venue.broker.drain_updates(), venue.quantities(), at=None)
    opening, pending.queued_new = pending.queued_new, []
    pending.queued.clear()
    return out + opening


def after_bar(venue: Venue, t: pd.Timestamp) -> list[Message]:
    """After a step: the waiting cancels of orders that ended meanwhile (filled, or an
    auction order filled or expired) are rejected by the venue."""
    pending = venue.pending
    out = []
    for rec_id in sorted(pending.canceling, key=lambda i: venue.records[i].seq):
        rec = venue.records[rec_id]
        if not venue.broker.get_order(rec.sim_id).status.is_open:
            pending.canceling.discard(rec_id)
            out.append(event(venue, "order_cancel_rejected", rec, rec.updated_at or t))
    return out


def render(
    venue: Venue, updates: list[OrderUpdate], quantities: dict[str, float],
    *, at: pd.Timestamp | None,
) -> list[Message]:  # fmt: skip
    """The simulated broker's ``updates`` as trade-update messages (``at``: their time,
    None: each its own as Alpaca shows it, :meth:`Replay.shown`: the one place where the
    simulated broker's times reach the wire); ``position_qty`` follows the fills one by
    one."""
    out = []
    for update in updates:
        rec = venue.records.get(venue.sim_ids.get(update.order.id, ""))
        if rec is None:
            continue  # the order of a failed submission: never shown to the client
        when = at or venue.replay.shown(update.time)
        name = update.event.value
        if name == "canceled" and rec.ended_as:
            name = rec.ended_as  # ended by its time in force
        rec.updated_at = when
        stamp = _STAMPS.get(name)
        if stamp is not None:
            setattr(rec, stamp, when)
            venue.tifs.discard(update.order.id)  # over: nothing left to enforce
        fill = update.fill
        if fill is None:
            if name == "new" and update.order.request.leg is Leg.STOP_LOSS:
                continue  # Alpaca's stop-loss leg stays "held" while it works
            out.append(trade_update(name, order_json(update.order, rec), when))
            continue
        quantities[fill.symbol] = quantities.get(fill.symbol, 0.0) + fill.quantity * (
            fill.side.sign
        )
        n = len(venue.activities)
        venue.activities.append(fill_activity(rec.id, update.order, fill, when, n))
        out.append(
            trade_update(
                name,
                order_json(update.order, rec),
                when,
                price=fill.price,
                qty=fill.quantity,
                position_qty=quantities[fill.symbol],
            )
        )
    return out


_STAMPS = {
    "fill": "filled_at",
    "canceled": "canceled_at",
    "expired": "expired_at",
    "rejected": "failed_at",
    "replaced": "replaced_at",
}
