"""The emulated account: the project's simulated broker driven by a replay clock.

Fills are by construction the :class:`~workbench.sim.broker.SimulatedBroker`'s (same
fill rules, same costs): this class adds only what Alpaca has and the simulated broker
does not: UUIDs and client order ids, Alpaca's submission checks (buying power,
available quantity, wash trades), a replay clock, and the JSON of orders, positions,
account and trade updates.

Time. :meth:`Venue.step` processes the next bar time: open orders are matched against
it, then it is published. The replay clock (``now``) is then the *end* of that bar;
orders submitted now are stamped with the bar's time in the simulated broker, so they
fill on the next bar at the earliest (a decision on bar t's close fills at t+1).
Events caused by a request carry ``now``; fills, expiries and venue rejections carry
the bar's time as :meth:`Replay.shown` shows it (daily data: its session's open).

Market hours (intraday data on an exchange calendar). An order sent while the market
is closed (after the close, overnight, on a weekend) is accepted and queued, as Alpaca
queues it: its ``new`` event goes out when the next session opens, just before the
session's first bar fills it. A ``day`` order sent after the close is therefore an
order for the next session's open (what a daily strategy deciding at the close sends).
Cancels and replaces of routed orders wait for the open the same way
(``pending_cancel``, ``pending_replace``: :mod:`.lifecycle`).

Time in force. ``opg``, ``cls``, ``ioc`` and ``fok`` orders, and the end of day and gtc
orders (at ``expires_at``: an ``extended_hours`` day order's is the end of its trading
day's after-hours), are enforced here around the simulated broker's bars, by the plans
of :mod:`.tif`.

Reads (the account, positions and orders as Alpaca's JSON) are the base's, :mod:`.reads`.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import pandas as pd

from workbench.data.sessions import calendar_zone
from workbench.emulator import lifecycle, rules, tif
from workbench.emulator.checks import (
    buying_power,
    check_order,
    held,
    maintenance_margin,
)
from workbench.emulator.faults import REJECT_MESSAGES, FaultBook
from workbench.emulator.marketdata import BarStore
from workbench.emulator.reads import VenueReads
from workbench.emulator.replay import Replay
from workbench.emulator.rules import CODE_FORBIDDEN, CODE_NOT_FOUND, CODE_RULE, invalid
from workbench.emulator.shapes import ApiError, OrderRecord, position_intent
from workbench.errors import OrderRejected
from workbench.orders import Order, OrderRequest, Side
from workbench.portfolio import QUANTITY_EPSILON
from workbench.sim.broker import SimulatedBroker

log = logging.getLogger(__name__)
Message = dict[str, Any]


class Venue(VenueReads):
    """One paper account over replayed bars; every method runs on the server's loop."""

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        broker: SimulatedBroker,
        *,
        faults: FaultBook,
        account_id: str,
        replay_from: pd.Timestamp | None = None,
        exchange: str = "NYSE",
        wash_trade_check: bool = True,
        calendar: str = "XNYS",
        quote_spread_bps: float = 2.0,
    ) -> None:
        self.store = BarStore(frames, calendar_zone(calendar))
        self.replay = Replay(
            frames, min(self.store.intervals.values()), replay_from, calendar=calendar
        )
        self.symbols = self.replay.symbols
        self.broker = broker
        self.faults = faults
        self.account_id = account_id
        self.exchange = exchange
        self.wash_trade_check = wash_trade_check
        self.quote_spread_bps = quote_spread_bps  # the synthetic ask values opening shorts
        self.volume_limit = broker.volume_limit
        self.records: dict[str, OrderRecord] = {}  # by Alpaca id, in submission order
        self.pending = lifecycle.Lifecycle()  # accepted, pending_cancel, pending_replace
        self.sim_ids: dict[str, str] = {}  # Alpaca id by the simulated broker's
        self._by_cid: dict[str, str] = {}
        self.last_close: dict[str, float] = {}
        self.lastday_close: dict[str, float] = {}
        self.created_at = self.replay.start
        last = self.replay.last_published
        if last is None:  # orders sent before the first bar fill on it
            broker.set_time(self.replay.stamp)
        else:  # the history's last closes value the account
            for symbol, _, o, h, low, c, v in self.replay.rows_at(last.value, at_or_before=True):
                broker.process_bar(symbol, last, o, h, low, c, v)
                self.last_close[symbol] = self.lastday_close[symbol] = c
            broker.set_time(last)
        self.last_equity = broker.get_account().equity
        self.last_maintenance = 0.0
        self.initial_equity = self.last_equity
        #: The account at the last regular-hours bar (equity, maintenance margin) and each
        #: symbol's close there: Alpaca's "previous trading day at 16:00:00 ET" once the
        #: day is over, which after-hours bars do not move.
        self.close_marks = (self.last_equity, 0.0)
        self.session_close = dict(self.lastday_close)
        self.held_overnight: dict[str, float] = {}  # quantities at the day boundary
        start = last if last is not None else self.replay.start
        self.equity_history: list[tuple[pd.Timestamp, float]] = [(start, self.last_equity)]
        self.activities: list[dict[str, Any]] = []  # FILL activities, oldest first
        self.configuration: dict[str, Any] = {}  # PATCH /v2/account/configurations
        self.tifs = tif.TifBook()

    @property
    def finished(self) -> bool:
        return self.replay.finished

    @property
    def now(self) -> pd.Timestamp:
        return self.replay.now

    @property
    def cursor(self) -> int:
        return self.replay.cursor

    def clock_json(self) -> dict[str, Any]:
        return self.replay.clock_json()

    def market_closed(self) -> bool:
        """Whether the replay (intraday data) is outside its exchange's sessions now."""
        return self.replay.intraday and not self.replay.sessions.is_open(self.now)

    def step(self) -> tuple[list[Message], list[tuple[str, int]]] | None:
        """Process and publish the next bar time; None when the replay is over.

        Returns the trade updates it caused and the ``(symbol, row)`` bars it published.
        """
        t = self.replay.next_time
        if t is None:
            return None
        opening: list[Message] = []
        gone = self.tifs.lapsed(t.value)  # over before this bar begins (no bars between)
        tif.end_lapsed(self.broker, self._plans(gone), self.replay.stamp)
        p = self.pending
        if (p.queued_new or p.replacing or p.canceling) and (
            not self.replay.intraday or self.replay.sessions.is_open(t)
        ):
            opening = lifecycle.at_open(self, t)
        if self.replay.new_day():
            self.last_equity, self.last_maintenance = self.close_marks
            self.lastday_close.update(self.session_close)
            self.held_overnight = self.quantities()
        quantities = self.quantities()
        published = []
        outside = self.replay.intraday and not self.replay.sessions.is_open(t)
        for symbol, i, o, h, low, c, v in list(self.replay.rows_at(t.value)):
            limit, volume = self.volume_limit, v
            if self.broker.has_open_orders(symbol):
                cap = self.faults.partial_cap(symbol)
                if cap is not None and cap.qty is not None:
                    limit, volume = 1.0, cap.qty  # the venue sees only qty shares to take
                elif cap is not None:
                    limit = cap.fraction
            due = self._plans(self.tifs.due(symbol, t.value))
            if outside and not due and not lifecycle.extended(self, symbol):
                self.broker.portfolio.mark(symbol, c)  # regular-hours orders wait: a mark only
            else:
                tif.work_bar(self.broker, due, symbol, t, (o, h, low, c), limit, volume)
            self.last_close[symbol] = c
            if not outside:
                self.session_close[symbol] = c
            published.append((symbol, i))
        over = self.tifs.lapsed((t + self.replay.interval).value)  # by the end of the bar
        tif.end_lapsed(self.broker, self._plans(over), t)
        self.replay.advance()
        updates = self.broker.drain_updates()
        messages = opening + lifecycle.render(self, updates, quantities, at=None)
        messages += lifecycle.after_bar(self, t)
        equity = self.broker.get_account().equity
        if not outside:
            self.close_marks = (equity, maintenance_margin(self.broker.portfolio))
        self.equity_history.append((t, equity))
        return messages, published

    def _plans(self, plans: list[tuple[str, tif.Plan]]) -> list[tuple[OrderRecord, tif.Plan]]:
        return [(self.records[self.sim_ids[sim_id]], plan) for sim_id, plan in plans]

    # -- actions ---------------------------------------------------------------------
    def submit(self, body: Any) -> tuple[dict[str, Any], list[Message]]:
        """``POST /v2/orders``: check like Alpaca, then hand the order to the broker."""
        parsed = rules.parse_order(body, self.symbols)
        req = parsed.request
        if self.configuration.get("suspend_trade"):
            raise ApiError(403, CODE_FORBIDDEN, "account is suspended from trading (suspend_trade)")
        fault = self.faults.rejection(req.symbol)
        if fault is not None:
            code = fault.code or CODE_FORBIDDEN
            message = fault.message or REJECT_MESSAGES.get(code, "order rejected (emulator)")
            raise ApiError(rules.status_for_code(code), code, message)
        cid = req.client_order_id or str(uuid.uuid4())
        if cid in self._by_cid:
            raise invalid("client_order_id must be unique")
        req = dataclasses.replace(req, client_order_id=cid)
        self._check(req)
        intent = parsed.position_intent or position_intent(req.side, self._qty(req.symbol))
        order, messages = self._place(req, parsed.extended_hours, intent, None, parsed)
        rec = self.records[self.sim_ids[order.id]]
        status = "accepted" if order.status.is_open else None
        messages = lifecycle.queue_new(self, messages)
        return self.order_doc(self.broker.get_order(order.id), rec, status=status), messages

    def _place(
        self,
        req: OrderRequest,
        extended: bool,
        intent: str,
        replaces: OrderRecord | None,
        parsed: rules.ParsedOrder,
    ) -> tuple[Order, list[Message]]:
        quantities = self.quantities()
        force = parsed.time_in_force
        plan = tif.plan(  # may refuse
            force, req.symbol, self.replay, self.replay.stamp.value, extended=extended
        )
        stamp = plan.stamp or (None if extended else lifecycle.routed_at(self))
        if stamp is not None:
            self.broker.set_time(stamp)  # the bar it works on is the first it sees
        try:
            if replaces is None:
                order = self.broker.submit_order(req)
            else:
                order = self.broker.replace_order(replaces.sim_id, req)
        except OrderRejected as exc:
            raise ApiError(422, exc.code or CODE_RULE, exc.message) from None
        finally:
            self.broker.set_time(self.replay.stamp)
        self.tifs.add(order.id, plan)
        klass = replaces.order_class if replaces is not None else req.order_class.value
        rec = self._record(order, req.client_order_id or "", extended, intent, klass)
        rec.time_in_force = force if force != req.tif.value else None
        rec.expires_at = tif.expires_at(force, self.replay, extended=extended)
        if replaces is not None:
            rec.replaces, replaces.replaced_by = replaces.id, rec.id
        for leg_id in order.legs:  # the exits: client order ids of their own, as Alpaca's
            leg = self.broker.get_order(leg_id)
            # an exit closes the position its entry opens (an oco's: the one it exits)
            exit_intent = position_intent(leg.side, -leg.side.sign)
            self._record(
                leg, str(uuid.uuid4()), False, exit_intent, klass
            ).expires_at = rec.expires_at
            self.tifs.add(leg_id, plan)  # a bracket's is day or gtc: its legs end with it
        return order, lifecycle.render(self, self.broker.drain_updates(), quantities, at=self.now)

    def _record(
        self, order: Order, cid: str, extended: bool, intent: str, order_class: str
    ) -> OrderRecord:
        rec = OrderRecord(
            order.id,
            str(uuid.uuid4()),
            cid,
            self.now,
            extended_hours=extended,
            position_intent=intent,
            seq=len(self.records),
            order_class=order_class,
        )
        self.records[rec.id] = rec
        self.sim_ids[order.id] = rec.id
        self._by_cid[rec.client_order_id] = rec.id
        return rec

    def cancel(self, order_id: str, *, closing: bool = False) -> list[Message]:
        """``DELETE /v2/orders/{id}``: at once, or ``pending_cancel`` (:mod:`.lifecycle`);
        ``closing``: the venue's own cancel before it closes the positions (at once)."""
        rec = self.records.get(rules.order_id(order_id))
        if rec is None:
            raise ApiError(404, CODE_NOT_FOUND, "order not found")
        if rec.id in self.pending.replacing:  # "will reject cancel request while in this state"
            return [lifecycle.event(self, "order_cancel_rejected", rec, self.now)]
        self._check_open(rec)
        if lifecycle.must_wait(self, rec, closing=closing):
            self.pending.canceling.add(rec.id)
            return [lifecycle.event(self, "pending_cancel", rec, self.now)]
        quantities = self.quantities()
        self.broker.cancel_order(rec.sim_id)
        self.pending.unqueue(rec.id)  # canceled before the open: no "new" event then
        return lifecycle.render(self, self.broker.drain_updates(), quantities, at=self.now)

    def _check_open(self, rec: OrderRecord) -> None:
        """422 for an order that is over, or that waits on an earlier request."""
        order = self.broker.get_order(rec.sim_id)
        status = self.pending.shown(rec.id, order) or order.status.value
        if status not in ("accepted", "new", "partially_filled", "held"):
            raise ApiError(422, CODE_RULE, f'order is already in "{status}" state')

    def cancel_all(self, *, closing: bool = False) -> tuple[list[dict[str, Any]], list[Message]]:
        results, messages = [], []
        for rec in list(self.records.values()):
            order = self.broker.get_order(rec.sim_id)  # now: canceling an entry ends its legs
            if not order.status.is_open:
                continue
            if self.pending.shown(rec.id, order) == "pending_cancel":
                if not closing or lifecycle.must_wait(self, rec, closing=True):
                    continue  # asked already
                self.pending.canceling.discard(rec.id)  # the venue's own cancel: now
            messages += self.cancel(rec.id, closing=closing)
            results.append({"id": rec.id, "status": 200, "body": self.order(rec.id, nested=False)})
        return results, messages

    def replace(self, order_id: str, body: Any) -> tuple[dict[str, Any], list[Message]]:
        """``PATCH /v2/orders/{id}``: the new quantity defaults to what the old one has left."""
        rec = self.records.get(rules.order_id(order_id))
        if rec is None:
            raise ApiError(404, CODE_NOT_FOUND, "order not found")
        if not isinstance(body, dict):
            raise ApiError(400, rules.CODE_MALFORMED, "request body format is invalid")
        old = self.broker.get_order(rec.sim_id)
        self._check_open(rec)
        req = old.request
        force = rec.time_in_force or req.tif.value
        trail = _pick(body, "trail", req.trail_price or req.trail_percent)
        merged = {
            "symbol": req.symbol,
            "side": req.side.value,
            "type": req.type.value,
            "time_in_force": body.get("time_in_force") or force,
            "qty": body.get("qty") if body.get("qty") is not None else old.remaining,
            "limit_price": _pick(body, "limit_price", req.limit_price),
            "stop_price": _pick(body, "stop_price", req.stop_price),
            "trail_price": trail if req.trail_price is not None else None,
            "trail_percent": trail if req.trail_percent is not None else None,
            "extended_hours": rec.extended_hours,
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
        }
        if old.legs:
            raise ApiError(
                422, CODE_RULE, "an order with legs cannot be replaced: replace its legs instead"
            )
        rules.check_replace(old, body, queued=rec.id in self.pending.queued, tif=force)
        tif.check_unlocked(self.tifs.plans.get(rec.sim_id), self.now)
        parsed = rules.parse_order(merged, self.symbols)
        new = parsed.request
        if new.client_order_id in self._by_cid:
            raise invalid("client_order_id must be unique")
        if old.parent_id is None:  # a leg's price moves; what it holds does not change
            self._check(new, exclude=rec.sim_id)
        intent = rec.position_intent or ""
        pending = lifecycle.event(self, "pending_replace", rec, self.now)
        pending["data"]["order"]["status"] = "pending_replace"
        order, messages = self._place(new, rec.extended_hours, intent, rec, parsed)
        self.tifs.discard(rec.sim_id)
        if self.market_closed():  # replaced at the open; till then it reads pending_replace
            self.pending.replacing.append(rec.id)
            rec.replaced_at = None
            messages = [m for m in messages if m["data"]["order"]["id"] != rec.id]
        new_rec = self.records[self.sim_ids[order.id]]
        status = "accepted" if order.status.is_open else None
        messages = [pending, *lifecycle.queue_new(self, messages)]
        return self.order_doc(self.broker.get_order(order.id), new_rec, status=status), messages

    def close_position(
        self, symbol_or_id: str, qty: float | None = None, percentage: float | None = None
    ) -> tuple[dict[str, Any], list[Message]]:
        """``DELETE /v2/positions/{symbol}``: a market DAY order for all or part of it."""
        symbol = self._symbol(symbol_or_id)
        position = self._qty(symbol)
        if abs(position) <= QUANTITY_EPSILON:
            raise ApiError(404, CODE_NOT_FOUND, "position does not exist")
        if qty is not None and percentage is not None:
            raise invalid("only one of qty or percentage may be given")
        if percentage is not None and not 0 < percentage <= 100:
            raise invalid("percentage must be in between 0 and 100")  # Alpaca's words
        size = abs(position) if qty is None else qty
        if percentage is not None:  # a whole-share position sells whole shares (rounded down)
            size = rules.part_of(abs(position), percentage)
        body = {
            "symbol": symbol,
            "side": "sell" if position > 0 else "buy",
            "type": "market",
            "time_in_force": "day",
            "qty": size,
        }
        return self.submit(body)

    def close_all(self, cancel_orders: bool) -> tuple[list[dict[str, Any]], list[Message]]:
        messages: list[Message] = []
        if cancel_orders:  # "cancel all open orders before liquidating all positions"
            messages += self.cancel_all(closing=True)[1]
        results = []
        for symbol in sorted(self.broker.get_positions()):
            try:
                order, more = self.close_position(symbol)
            except ApiError as exc:
                results.append({"symbol": symbol, "status": exc.status, "body": exc.body()})
                continue
            messages += more
            results.append({"symbol": symbol, "status": 200, "body": order})
        return results, messages

    def _check(self, req: OrderRequest, exclude: str | None = None) -> None:
        check_order(
            self.broker,
            req,
            self.last_close,
            wash_trade_check=self.wash_trade_check,
            exclude=exclude,
            spread_bps=self.quote_spread_bps,
        )

    def buying_power(self) -> float:
        return buying_power(self.broker, self.last_close, spread_bps=self.quote_spread_bps)

    def _held(self, symbol: str, side: Side) -> float:
        return held(self.broker, symbol, side)

    def _qty(self, symbol: str) -> float:
        return self.broker.portfolio.quantity(symbol)

    def quantities(self) -> dict[str, float]:
        return {s: self._qty(s) for s in self.symbols}


def _pick(body: dict[str, Any], name: str, default: float | None) -> Any:
    value = body.get(name)
    return default if value is None else value
