"""The Alpaca broker's trade-update half: the trading WebSocket's thread, each update
through the lifecycle table, the fills handed out, the catch-up after a reconnection and
the ended orders remembered until let go.

:class:`AlpacaStream` is this part of :class:`~workbench.brokers.alpaca.AlpacaBroker`
(its base), kept here by concept as the simulated broker keeps its legs
(:mod:`workbench.sim.legs`): the REST half (:mod:`workbench.brokers.alpaca`) sends and
reads orders, this half follows what Alpaca tells of them afterwards. The split is where
the two meet least: at the broker's copy of each order (``_orders`` with its reasons and
fills handed out, under ``_lock``, set up here and fed by both through :meth:`_remember`),
at the open-order book (``_book``, the REST half's, fed here by the updates handed out)
and at the REST half's request wrapper (``_call``), which the catch-up's lookups go
through. The stream's state (connections, listening, a catch-up's progress, the ended
orders: :mod:`workbench.brokers.alpaca_memory`) is this half's alone. Updates are queued
by the stream's thread and applied on the caller's, in :meth:`drain_updates`. Its records
are the broker's (logger ``workbench.brokers.alpaca``), as before the split.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.broker import OrderUpdate, UpdateEvent
from workbench.brokers.alpaca_catch_up import catch_up, listed_since, missed_updates, unheard
from workbench.brokers.alpaca_listing import pages
from workbench.brokers.alpaca_memory import Ends
from workbench.brokers.alpaca_orders import _ts, _value, order_from_alpaca
from workbench.brokers.alpaca_sdk import watch_listening
from workbench.brokers.alpaca_updates import execution, followed, stale
from workbench.brokers.streams import run_stream, stop_stream
from workbench.errors import BrokerError, TransientBrokerError
from workbench.lifecycle import InvalidTransition, apply_fill, transition
from workbench.orders import Order, OrderStatus
from workbench.portfolio import QUANTITY_EPSILON

if TYPE_CHECKING:
    from workbench.brokers.alpaca_book import OpenBook

__all__ = ["CLOSED", "EVENTS", "LISTENING", "AlpacaStream"]

log = logging.getLogger("workbench.brokers.alpaca")  # the broker's records, as before the split
T = TypeVar("T")

EVENTS = {e.value: e for e in UpdateEvent}
#: Put on the update queue each time the trade stream (re)connects.
LISTENING = object()
#: Put on the update queue each time the trade stream's connection closes.
CLOSED = object()


class AlpacaStream:
    """The trade updates of :class:`~workbench.brokers.alpaca.AlpacaBroker` (its base)."""

    # the broker's, declared here for what reads them
    live: bool
    client: Any
    _key: str
    _secret: str
    _book: OpenBook

    def __init__(
        self, stream_url: str | None, clock: Callable[[], float], forget_age: float
    ) -> None:
        """``clock``: the monotonic seconds a 429's wait and an ended order's age are
        measured on; ``forget_age``: the seconds an ended order is remembered at least."""
        self._stream_url = stream_url
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._updates: queue.Queue[Any] = queue.Queue()
        self._orders: dict[str, Order] = {}
        self._reasons: dict[str, str] = {}  # client order id -> the reason it was sent for
        #: order id -> the quantity and notional of the fills handed out for it
        self._handed: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._connections = 0  # of the trade stream, so far
        self._behind = False  # it reconnected: updates may have been missed
        self._caught: set[str] = set()  # orders the unfinished catch-up has looked up
        self._listed = False  # the unfinished catch-up's listing is over: look up the rest
        self._clock = clock
        self._resume_at = 0.0  # on the clock: no catch-up lookup before (a 429's wait)
        self._listening = False  # the trade stream is connected and listens
        self._ends = Ends(clock, forget_age)  # ended orders remembered, until let go

    # -- trade updates ------------------------------------------------------------------
    def start_stream(self) -> None:
        """Listen to trade updates in a background thread (alpaca-py reconnects by itself)."""
        if self._thread is not None:
            return
        from alpaca.trading.stream import TradingStream

        self._stream = TradingStream(
            self._key, self._secret, paper=not self.live, url_override=self._stream_url
        )

        async def on_update(data: Any) -> None:
            self._updates.put(data)

        self._stream.subscribe_trade_updates(on_update)
        watch_listening(
            self._stream,
            lambda: self._updates.put(LISTENING),
            lambda: self._updates.put(CLOSED),
        )
        self._thread = threading.Thread(
            target=self._run_stream, name="alpaca-trade-updates", daemon=True
        )
        self._thread.start()

    def _run_stream(self) -> None:
        run_stream(self._stream, log, "trade update stream")

    def close(self, timeout: float = 5.0) -> None:
        """Stop the trade update stream and wait for its thread."""
        if self._stream is not None and self._thread is not None:
            stop_stream(self._stream, self._thread, timeout)
        self._listening = False
        self._book.gap()
        self._thread = None
        self._stream = None

    def _stream_current(self) -> bool:
        """Whether the trade stream listens and has told every update since it began."""
        return self._listening and not self._behind

    def drain_updates(self) -> list[OrderUpdate]:
        out = []
        while True:
            try:
                data = self._updates.get_nowait()
            except queue.Empty:
                break
            if data is CLOSED:  # a gap begins: the book is incomplete until caught up
                self._listening = False
                self._book.gap()
                continue
            if data is LISTENING:  # (re)connected: after a reconnection, catch up first
                self._listening = True
                self._connections += 1
                if self._connections > 1:  # a gap of its own: every open order again
                    self._behind, self._caught, self._listed = True, set(), False
                    self._book.gap()
                if self._behind:
                    out.extend(self._catch_up())
                continue
            update = self._apply(data)
            if update is not None:
                out.append(update)
        if self._behind:  # the catch-up failed: try again
            out.extend(self._catch_up())
        if self._book.due and self._stream_current():
            out.extend(self._unheard())
        return out

    def _unheard(self) -> list[OrderUpdate]:
        """The ends of the orders the open-order book holds that Alpaca has not listed
        open twice in a row, never told (:func:`.alpaca_catch_up.unheard`)."""
        due = sorted(self._book.due)
        out, looked, unknown = unheard(due, self._look_up, self._missed, self._apply)
        for order_id in looked:
            with self._lock:
                known = None if order_id in unknown else self._orders.get(order_id)
                handed = self._handed.get(order_id, (0.0, 0.0))[0]
            self._book.looked_up(order_id, known)
            ended = known is None or known.status.is_terminal
            if ended and order_id not in self._ends:  # its end told by no update
                self._ends.ended(order_id, known.updated_at if known else None, handed)
        return out

    def _look_up(self, order_id: str) -> Any:
        """alpaca-py's copy of an order (flat: the legs are orders of their own)."""
        return self._call(f"get order {order_id}", lambda: self.client.get_order_by_id(order_id))

    def _catch_up(self) -> list[OrderUpdate]:
        """What the trade stream missed while it was away (:mod:`.alpaca_catch_up`): the
        orders sent since the oldest open one listed (:func:`.alpaca_catch_up.listed_since`),
        those the listing did not show looked up one by one.

        An attempt cut short (a 429 once the minute's requests are spent, a request that
        fails) is taken up where it stopped: an order shown or looked up since the
        reconnection is not asked about again (the stream, back, tells what it does since),
        a listing cut short lists again from the oldest order not shown yet, and a listing
        that ended is not made again, so a catch-up over more working orders than the venue
        answers at a stretch still ends. After a 429 the next attempt waits the
        ``Retry-After`` (or ``X-RateLimit-Reset``) Alpaca asked for: a drain before then
        asks nothing, which would only be refused again."""
        from alpaca.trading.enums import QueryOrderStatus

        if self._clock() < self._resume_at:
            return []
        with self._lock:
            held = [o for o in self._orders.values() if o.status.is_open]
        held = [o for o in held if o.id not in self._caught]
        since = None if self._listed else listed_since(held)
        listing = None
        if since is not None:
            listing = pages(
                lambda req: self._asked("list orders", lambda: self.client.get_orders(req)),
                QueryOrderStatus.ALL,
                after=since,
                nested=False,  # flat, as a lookup: each leg an order of its own
            )

        def look_up(order_id: str) -> Any:
            self._listed = True  # the lookups begin once the listing is over
            try:
                found = self._asked(
                    f"get order {order_id}", lambda: self.client.get_order_by_id(order_id)
                )
            except BrokerError as exc:
                if exc.code == 40410000:  # not Alpaca's (any more): nothing to learn
                    self._caught.add(order_id)
                raise
            self._caught.add(order_id)
            return found

        ids = [o.id for o in held]
        out, complete = catch_up(ids, listing, look_up, self._missed, self._apply, self._caught.add)
        if complete:
            self._behind, self._caught, self._listed = False, set(), False
        return out

    def _asked(self, what: str, fn: Callable[[], T]) -> T:
        """A catch-up request: after a 429, no other before the wait Alpaca asked for."""
        try:
            return self._call(what, fn)
        except TransientBrokerError as exc:
            if exc.retry_after:
                self._resume_at = self._clock() + exc.retry_after
            raise

    def _missed(self, o: Any) -> list[Any]:
        """The trade updates that would have brought alpaca-py's order ``o`` to our copy
        (:func:`~workbench.brokers.alpaca_catch_up.missed_updates`)."""
        (fresh,) = order_from_alpaca(o)[:1]
        with self._lock:
            known = self._orders.get(fresh.id)
            handed = self._handed.get(fresh.id, (0.0, 0.0))[0]
        return missed_updates(o, fresh, known, handed)

    def _remember(self, order: Order) -> Order:
        with self._lock:
            known = self._orders.get(order.id)
            if known is not None:  # a flat copy (a trade update) keeps what nesting told
                if known.legs and not order.legs:
                    order = dataclasses.replace(order, request=known.request, legs=known.legs)
                elif known.parent_id and not order.parent_id:
                    order = dataclasses.replace(
                        order, request=known.request, parent_id=known.parent_id
                    )
            order = self._with_reason(order)
            self._orders[order.id] = order
        return order

    def _with_reason(self, order: Order) -> Order:
        """``order`` with the reason it was sent for (Alpaca's copy has none)."""
        reason = self._reasons.get(order.client_order_id or "")
        if not reason or order.request.reason == reason:
            return order
        return dataclasses.replace(order, request=dataclasses.replace(order.request, reason=reason))

    def _apply(self, data: Any) -> OrderUpdate | None:
        """Move our copy of the order through the lifecycle table with this update."""
        event = EVENTS.get(getattr(data.event, "value", data.event))
        with self._lock:
            fresh = self._with_reason(order_from_alpaca(data.order)[0])
            known = self._orders.get(fresh.id)
        when = _ts(data.timestamp) or fresh.updated_at
        if known is None and self._ends.let_go(when):
            log.info(
                "order %s: late %s update (%s) after it ended and was let go; ignored",
                fresh.id, _value(data.event), fresh.status,
                extra={"event": "stale_update", "order_id": fresh.id},
            )  # fmt: skip
            return None
        if known is not None and (known.legs or known.parent_id):
            fresh = dataclasses.replace(
                fresh, request=known.request, legs=known.legs, parent_id=known.parent_id
            )
        if event is UpdateEvent.REJECTED and fresh.parent_id is not None:
            log.error(
                "exit %s of %s rejected by Alpaca",
                fresh.request.leg,
                fresh.parent_id,
                extra={
                    "event": "leg_rejected",
                    "symbol": fresh.symbol,
                    "order_id": fresh.id,
                    "client_order_id": fresh.client_order_id,
                    "reason": f"status={_value(data.order.status)} event={_value(data.event)}",
                },
            )
        with self._lock:
            known = self._orders.get(fresh.id)
        fill = None
        try:
            if event in (UpdateEvent.FILL, UpdateEvent.PARTIAL_FILL):
                fill = execution(data, fresh, when, self._handed)
                if fill is None:  # counted already: a repeated or an older event
                    log.info(
                        "order %s: %s update with %g filled, already counted; no new fill",
                        fresh.id, event, fresh.filled_quantity,
                        extra={"event": "stale_update", "order_id": fresh.id},
                    )  # fmt: skip
                    return None
                order = fresh
                if known is not None and known.status.is_terminal:
                    # its end came first (the stream keeps no order): the fill is Alpaca's
                    # all the same, and the order stays ended
                    order = dataclasses.replace(
                        known,
                        filled_quantity=fresh.filled_quantity,
                        average_price=fresh.average_price,
                    )
                elif known is not None:  # our copy takes what it lacks (a lookup may know more)
                    if known.status in (OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW):
                        # its new event was missed (a reconnection): a fill says it is new
                        known = transition(known, OrderStatus.NEW, at=when)
                    order = known
                    lacking = fresh.filled_quantity - known.filled_quantity
                    if lacking > QUANTITY_EPSILON * max(1.0, fresh.filled_quantity):
                        price = (
                            fresh.average_price * fresh.filled_quantity
                            - known.average_price * known.filled_quantity
                        ) / lacking
                        step = dataclasses.replace(fill, quantity=lacking, price=price)
                        order = apply_fill(known, step, complete=event is UpdateEvent.FILL)
            elif known is not None and stale(known, fresh):
                # older than what we know: the stream keeps no order (a pending_new after
                # new), or a lookup told the order's end first (after an outage)
                log.info(
                    "order %s: late %s update (%s) after it was %s; ignored", fresh.id,
                    _value(data.event), fresh.status, known.status,
                    extra={"event": "stale_update", "order_id": fresh.id},
                )  # fmt: skip
                return None
            elif known is not None and known.status is not fresh.status:
                order = transition(known, fresh.status, at=when)
            else:
                order = fresh
        except InvalidTransition as exc:  # a move forward the lifecycle has not: flagged
            log.error(
                "order %s: %s on its %s update; taking Alpaca's", fresh.id, exc.message,
                _value(data.event),
                extra={"event": "invalid_transition", "order_id": fresh.id,
                       "symbol": fresh.symbol, "client_order_id": fresh.client_order_id,
                       "reason": f"{exc.message} ({exc.hint})"},
            )  # fmt: skip
            order = fresh
        order = self._remember(order)
        if order.status.is_terminal:  # handed out, or (outside the protocol) not to be
            self._book.ended(order.id)
            self._ends.ended(order.id, when, fresh.filled_quantity)
        else:
            self._book.seen([order])
        if event is None:
            followed(order, str(_value(data.event)))
            return None
        return OrderUpdate(event, order, when, fill)
