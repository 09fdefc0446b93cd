"""The Alpaca broker: the :class:`~workbench.broker.Broker` protocol on alpaca-py.

- Paper trading by default; live trading only with ``live=True`` *and* a paper-less URL
  chosen on purpose. Keys come from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``
  (:meth:`AlpacaBroker.from_env`); they are never logged or put in error messages.
- alpaca-py sends requests with no timeout and retries 429/504 itself with a fixed 3 s
  sleep. Here every request has a timeout and the SDK's own retries are off: the
  execution engine retries with backoff, honours rate-limit headers, and looks orders
  up by client order id after an ambiguous failure.
- Errors are mapped by what the caller must do: 429, 5xx, timeouts and dropped
  connections become :class:`~workbench.errors.TransientBrokerError` (5xx and transport
  failures flagged ``ambiguous``); 403 and 422 become
  :class:`~workbench.errors.OrderRejected` with Alpaca's code and message
  (:mod:`workbench.brokers.alpaca_errors`).
- Trade updates arrive on the trading WebSocket (a background thread); each one goes
  through the order lifecycle table of :mod:`workbench.lifecycle` before it is handed out
  by :meth:`AlpacaBroker.drain_updates`, each execution once. Alpaca does not replay
  what a dropped connection missed: after a reconnection the orders sent since the oldest
  open one are listed, and those the listing did not show looked up
  (:mod:`workbench.brokers.alpaca_catch_up`).
- The open orders are kept in a book fed by the answers and the updates handed out, and
  listed at Alpaca only to start, after a stream gap and at a bounded age
  (:mod:`workbench.brokers.alpaca_book`, which says what view it gives and why): the
  engine asks for them on every submission and every order end, and a listing each time
  spent Alpaca's 200 requests a minute on a rebalance of 100 symbols.
- Attached exits go out as Alpaca's order classes (``bracket``, ``oto``, ``oco``) and
  trailing stops as ``trailing_stop`` with ``trail_price`` or ``trail_percent``. Alpaca
  names a bracket's legs with client order ids of its own; here each leg is known by a
  deterministic one, its entry's plus ``-tp`` (take-profit) or ``-sl`` (stop-loss), and
  carries ``parent_id``. Orders are read ``nested``, so a restart finds every working
  leg under its entry (:meth:`AlpacaBroker.get_open_orders`). Alpaca takes no trailing
  stop as a bracket leg: such an entry is refused here, before anything is sent. The
  translation both ways is :mod:`workbench.brokers.alpaca_orders`'s.
- What the broker keeps of each order (its copy, the fills handed out, its reason) is let
  go some time after its end, so a run of months keeps the orders of minutes, not of every
  order it sent; a late update of an order let go is dropped, never handed out twice
  (:mod:`workbench.brokers.alpaca_memory` says when and why).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from workbench.broker import AccountSnapshot, OrderUpdate, UpdateEvent
from workbench.brokers.alpaca_book import MAX_AGE, OpenBook
from workbench.brokers.alpaca_catch_up import catch_up, listed_since, missed_updates, unheard
from workbench.brokers.alpaca_errors import _map_api_error
from workbench.brokers.alpaca_listing import open_orders, pages
from workbench.brokers.alpaca_memory import FORGET_AGE, Ends, Kept
from workbench.brokers.alpaca_orders import (
    _leg_of,
    _order_request,
    _ts,
    _value,
    on_price_grid,
    order_from_alpaca,
    position_from_alpaca,
)
from workbench.brokers.alpaca_sdk import tune_client, watch_listening
from workbench.brokers.alpaca_updates import execution, followed, stale
from workbench.brokers.streams import run_stream, stop_stream
from workbench.errors import BrokerError, ConfigError, OrderRejected, TransientBrokerError
from workbench.lifecycle import InvalidTransition, apply_fill, transition
from workbench.orders import Order, OrderRequest, OrderStatus
from workbench.portfolio import QUANTITY_EPSILON, PositionView

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0

EVENTS = {e.value: e for e in UpdateEvent}
#: Put on the update queue each time the trade stream (re)connects.
LISTENING = object()
#: Put on the update queue each time the trade stream's connection closes.
CLOSED = object()


class AlpacaBroker:
    """Account, positions and orders at Alpaca (or at the project's emulator)."""

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        live: bool = False,
        url: str | None = None,
        stream_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        book_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        forget_age: float = FORGET_AGE,
    ) -> None:
        """``clock``: the monotonic seconds a rate limit's wait and the open-order book's age
        are measured on; ``book_age``: the seconds a listing of the open orders stands for
        (:mod:`workbench.brokers.alpaca_book`); ``forget_age``: the seconds an ended order
        is remembered at least (:mod:`workbench.brokers.alpaca_memory`)."""
        from alpaca.trading.client import TradingClient

        if not key or not secret:
            raise ConfigError(
                "Alpaca keys are missing",
                hint="set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment",
            )
        self.live = live
        self._key, self._secret = key, secret
        self.client = TradingClient(key, secret, paper=not live, url_override=url)
        # every request times out; retries are the execution engine's job
        tune_client(self.client, timeout)
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
        self._book = OpenBook(book_age, clock)
        self._ends = Ends(clock, forget_age)  # ended orders remembered, until let go

    @property
    def book_age(self) -> float:
        """The seconds a listing of the open orders stands for (the book's own)."""
        return self._book.max_age

    @classmethod
    def from_env(cls, **kwargs: Any) -> AlpacaBroker:
        return cls(
            os.environ.get("APCA_API_KEY_ID", ""),
            os.environ.get("APCA_API_SECRET_KEY", ""),
            **kwargs,
        )

    def __repr__(self) -> str:  # never show the keys
        return f"AlpacaBroker(live={self.live}, url={self.client._base_url!r})"

    # -- calls --------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        from alpaca.common.exceptions import APIError

        try:
            return fn()
        except APIError as exc:
            raise _map_api_error(what, exc) from None
        except (
            requests.Timeout,
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,  # the answer broke off midway
        ) as exc:
            raise TransientBrokerError(
                f"{what}: no answer from Alpaca ({type(exc).__name__})", ambiguous=True
            ) from None

    def get_account(self) -> AccountSnapshot:
        a = self._call("get account", self.client.get_account)
        return AccountSnapshot(
            cash=float(a.cash), equity=float(a.equity), buying_power=float(a.buying_power)
        )

    def get_positions(self) -> dict[str, PositionView]:
        positions = self._call("get positions", self.client.get_all_positions)
        return {p.symbol: position_from_alpaca(p) for p in positions}

    def get_open_orders(self) -> list[Order]:
        """Every open order, oldest first, each leg after its entry: from the open-order
        book while it is complete and fresh, else listed page after page, as Alpaca lists
        at most 500 a request (:func:`~workbench.brokers.alpaca_listing.open_orders`), and
        the book filled from that listing if the trade stream listens, caught up
        (:mod:`workbench.brokers.alpaca_book`: the view it gives)."""
        if self._book.fresh():
            return self._book.orders()
        orders = open_orders(
            lambda req: self._call("list orders", lambda: self.client.get_orders(req))
        )
        found = [self._remember(x) for o in orders for x in order_from_alpaca(o)]
        listed = [o for o in found if o.status.is_open]
        if not self._stream_current():
            return listed
        with self._lock:  # the ended orders to let go (alpaca_memory: when, and why)
            kept = Kept(self._orders, self._handed, self._reasons)
            kept.forget(self._ends.listed((o.id for o in listed), kept.settled))
        return self._book.refill(listed)

    def _stream_current(self) -> bool:
        """Whether the trade stream listens and has told every update since it began."""
        return self._listening and not self._behind

    def get_order(self, order_id: str) -> Order:
        from alpaca.trading.requests import GetOrderByIdRequest

        nested = GetOrderByIdRequest(nested=True)
        o = self._call(
            f"get order {order_id}", lambda: self.client.get_order_by_id(order_id, nested)
        )
        return self._remember_all(order_from_alpaca(o))

    def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        entry_cid, role = _leg_of(client_order_id)
        try:
            o = self._call(
                f"get order {entry_cid}",
                lambda: self.client.get_order_by_client_id(entry_cid),
            )
        except BrokerError as exc:
            if exc.code == 40410000 or "404" in exc.message:
                return None
            raise
        entry = self.get_order(str(o.id))  # again, nested: with its legs
        if role is None:
            return entry
        with self._lock:
            legs = [self._orders.get(i) for i in entry.legs]
        return next((leg for leg in legs if leg and leg.client_order_id == client_order_id), None)

    def submit_order(self, request: OrderRequest) -> Order:
        request = on_price_grid(request)
        body = _order_request(request)
        if request.client_order_id and request.reason:
            with self._lock:  # Alpaca does not keep it: our orders and fills carry it
                self._reasons[request.client_order_id] = request.reason
                for suffix in ("-tp", "-sl"):  # the exits' fills carry it too
                    self._reasons[request.client_order_id + suffix] = request.reason
        try:
            o = self._call(
                f"submit {request.side} {request.symbol}", lambda: self.client.submit_order(body)
            )
        except OrderRejected as exc:
            if request.has_exits:
                log.error(
                    "%s order refused with its exits: %s",
                    request.order_class,
                    exc.message,
                    extra={
                        "event": "leg_rejected",
                        "symbol": request.symbol,
                        "client_order_id": request.client_order_id,
                        "reason": f"code={exc.code} {exc.message}",
                    },
                )
            raise
        return self._remember_all(order_from_alpaca(o))

    def replace_order(self, order_id: str, request: OrderRequest) -> Order:
        """Alpaca's PATCH: new prices (a leg's too) or quantity; the old order ends replaced."""
        from alpaca.trading.requests import ReplaceOrderRequest

        request = on_price_grid(request)
        qty = request.quantity
        if qty is not None and not float(qty).is_integer():  # int() would cut it short
            raise OrderRejected(
                f"replace {order_id}: Alpaca replaces whole shares only, not a qty of {qty:g}",
                hint="cancel the order and send a new one for a fractional quantity",
            )
        trail = request.trail_price if request.trail_price is not None else request.trail_percent
        body = ReplaceOrderRequest(
            qty=int(qty) if qty else None,
            time_in_force=request.tif.value,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            trail=trail,
        )
        o = self._call(
            f"replace {order_id}", lambda: self.client.replace_order_by_id(order_id, body)
        )
        with self._lock:
            old = self._orders.get(order_id)
        if old is not None and old.parent_id is not None:  # a leg stays its entry's leg
            parent = self._orders.get(old.parent_id)
            (new,) = order_from_alpaca(o, parent=parent, leg=old.request.leg)
            if parent is not None:
                legs = tuple(new.id if i == order_id else i for i in parent.legs)
                self._book.seen([self._remember(dataclasses.replace(parent, legs=legs))])
            new = self._remember(new)
            self._book.seen([new])  # the old order leaves with its replaced update
            return new
        return self._remember_all(order_from_alpaca(o))

    def _remember_all(self, orders: list[Order]) -> Order:
        """Remember an order and its legs, Alpaca's answer: the working ones are open in
        the book (an order never leaves it by an answer); return the order."""
        known = [self._remember(leg) for leg in orders[1:]]
        known.insert(0, self._remember(orders[0]))
        self._book.seen(known)
        return known[0]

    def cancel_order(self, order_id: str) -> None:
        self._call(f"cancel {order_id}", lambda: self.client.cancel_order_by_id(order_id))

    def cancel_all_orders(self) -> None:
        self._call("cancel all orders", self.client.cancel_orders)

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
