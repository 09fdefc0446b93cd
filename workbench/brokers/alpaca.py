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

This module is the broker's REST half: the requests it sends (submit, replace, cancel,
the account, positions and orders read) and their answers taken into its copy of each
order and the open-order book. The trade-update half (the stream's thread, each update
through the lifecycle table, the fills handed out, the catch-up, the ended orders
remembered) is its base :class:`~workbench.brokers.alpaca_stream.AlpacaStream`, a module
of its own: the two meet only at that copy, the book and the request wrapper ``_call``,
and each reads as one concept (:mod:`workbench.brokers.alpaca_stream` says where the seam
runs).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from workbench.broker import AccountSnapshot
from workbench.brokers.alpaca_book import MAX_AGE, OpenBook
from workbench.brokers.alpaca_errors import _map_api_error
from workbench.brokers.alpaca_listing import open_orders
from workbench.brokers.alpaca_memory import FORGET_AGE, Kept
from workbench.brokers.alpaca_orders import (
    _leg_of,
    _order_request,
    on_price_grid,
    order_from_alpaca,
    position_from_alpaca,
)
from workbench.brokers.alpaca_sdk import tune_client
from workbench.brokers.alpaca_stream import LISTENING, AlpacaStream
from workbench.errors import BrokerError, ConfigError, OrderRejected, TransientBrokerError
from workbench.orders import Order, OrderRequest
from workbench.portfolio import PositionView

# LISTENING: the trade stream's marker on the update queue, importable here as before the split
__all__ = ["DEFAULT_TIMEOUT", "LISTENING", "AlpacaBroker"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0


class AlpacaBroker(AlpacaStream):
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
        super().__init__(stream_url, clock, forget_age)  # the trade updates' state
        self._book = OpenBook(book_age, clock)

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
