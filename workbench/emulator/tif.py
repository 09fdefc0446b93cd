"""Alpaca's times in force at the emulated venue: when an order may be sent, where it works.

``day`` and ``gtc`` are the simulated broker's own. The other four ride on a DAY order of
the simulated broker; this module says on which bar each works and how it ends. What
Alpaca documents (Orders at Alpaca, "Time in Force"), and what the emulator makes of it
on its bar clock:

- ``ioc``: "all or part of the order to be executed immediately. Any unfilled portion
  of the order is canceled"; ``fok``: "only executed if the entire order quantity can be
  filled, otherwise the order is canceled". *Immediately*, on a bar clock, is the open of
  the symbol's first bar after the order (the next session's first bar while the market
  is closed: Alpaca queues orders sent outside the session). The order works at that
  price only: a limit fills when the open is at or through it, a stop when the open is
  through its stop, up to what the venue lets one order take of the bar
  (``volume_limit``, a partial-fill fault); ``fok`` fills all or nothing. The rest is
  ``canceled`` (which event ends a partly filled ioc is undocumented: Alpaca-API #171).
- ``opg``: "eligible to execute only in the market opening auction. Any unfilled orders
  after the open will be cancelled. OPG orders submitted after 9:28am but before 7:00pm
  ET will be rejected. OPG orders submitted after 7:00pm will be queued and routed to
  the following day's opening auction." The auction's price is the open of the symbol's
  first regular-hours bar of the session, where a limit fills only when that open is at
  or through it.
- ``cls``: the same at the closing auction, "rejected" from 3:50pm to 7:00pm ET. Its price
  is the close of the session's last regular-hours bar; its fills are stamped at the
  session's close. Resting orders of other times in force take part in that auction too
  (they saw the same price inside the bar). The unfilled rest of an ``opg``/``cls``
  order ends ``expired``, as Alpaca's paper venue shows it ("reached the end of its
  lifespan, as determined by the order's time in force", its ``expired`` event).
- The cut-offs follow the calendar: 2 minutes before the open and 10 before the close
  (12:50 on an early close); 19:00 New York of the session's date. An ``opg``/``cls``
  order cannot be canceled or replaced after its cut-off (the exchanges' auction rules,
  Alpaca's forum: "existing orders also cannot be canceled or modified after 9:28"): a
  replace is refused; a cancel stays ``pending_cancel`` until the auction, as Alpaca's
  staff describe it, then is rejected (:mod:`.lifecycle`).
- Daily data have no time of day (each step is a session; the clock sits between
  sessions): each of the four works on the symbol's next bar, with no window.
- ``expires_at``: the close of the session a session-bound order works in (a day
  order's, as Alpaca shows it); a gtc order's is 90 days after it was sent, at 16:15 New
  York (Alpaca's aged-order policy). The venue ends what is left of a day or gtc order
  ``expired`` then: a day order at its session's close ("If unfilled after the closing
  auction, it is automatically canceled"), not at the next session's first bar.
- An ``extended_hours`` day order "can also execute during supported extended hours"
  (Time in Force) of its trading day, which ends with the after-hours session: one sent
  in the pre-market, the session or the after-hours is good until 20:00 New York (17:00
  on an early close); one sent from 20:00 on (in the overnight session, which "marks the
  beginning of a new trading day") is good through the next session's after-hours: "If
  unfilled, the order is canceled at 8:00 PM ET" (24/5 Trading, Trading API, 2026).
  That end is its ``expires_at`` (Alpaca's value for it is undocumented). Daily data have
  no extended hours: it ends at its session's close like any day order. The simulated
  broker carries it as a gtc order (:data:`.rules.TIFS`): its own day, a UTC date (19:00
  New York in winter), would end it before the after-hours do.
- An order whose end passed before a bar begins (bars missing in between) is ended at
  that end, before the bar is matched.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.emulator.replay import Replay
from workbench.emulator.rules import CODE_RULE, invalid
from workbench.emulator.shapes import NEW_YORK, ApiError, OrderRecord
from workbench.orders import Order
from workbench.sim.broker import SimulatedBroker
from workbench.sim.fills import match, round_lot

#: The times in force the venue enforces; ``day`` is the simulated broker's.
ENFORCED = ("gtc", "opg", "cls", "ioc", "fok")
AUCTIONS = ("opg", "cls")
IMMEDIATE = ("ioc", "fok")
OPEN_CUTOFF = pd.Timedelta(minutes=2)  # 9:28 for a 9:30 open
CLOSE_CUTOFF = pd.Timedelta(minutes=10)  # 3:50 for a 4:00 close
EVENING = "19:00"  # from then on, opg/cls orders queue for the next session
AGED_DAYS = 90  # Alpaca's aged-order policy for gtc orders
AGED_AT = "16:15"


@dataclass(frozen=True)
class Plan:
    """Where one order works and how it ends, by its time in force."""

    tif: str
    symbol: str
    bar_ns: int | None  # the bar it works on; None: no such bar (it lapses at the deadline)
    deadline_ns: int | None  # when it lapses if it has no bar (gtc: the aged-order date)
    stamp: pd.Timestamp | None  # the simulated broker's time to send it at (None: now)
    auction: pd.Timestamp | None = None  # cls: the closing auction's time
    locked_ns: int | None = None  # opg/cls: no cancel or replace from then on

    @property
    def ending(self) -> str:
        """The event that ends its unfilled rest."""
        return "canceled" if self.tif in IMMEDIATE else "expired"


def plan(tif: str, symbol: str, replay: Replay, stamp_ns: int, *, extended: bool = False) -> Plan:
    """The plan of an order of ``tif`` sent now (``stamp_ns``: the broker's time now;
    ``extended``: an ``extended_hours`` order).

    Raises an ApiError (422) for an ``opg``/``cls`` order sent inside its refusal window.
    """
    now = replay.now
    if tif in ("day", "gtc"):  # the simulated broker's own, ended at expires_at
        end = expires_at(tif, replay, extended=extended)
        return Plan(tif, symbol, None, None if end is None else end.value, None)
    times = replay.times_of(symbol)
    cal = replay.sessions
    if not replay.intraday:  # each bar is a session: the next one
        bar = _first(times, stamp_ns + 1)
        auction = None if bar is None or tif != "cls" else _close_of(bar, replay)
        return _planned(tif, symbol, bar, None, auction, None)
    if tif in AUCTIONS:
        k = _session(tif, now, replay)
        lo, hi = int(cal.opens[k]), int(cal.closes[k])
        if tif == "opg":
            bar, locked = _first(times, lo, hi), lo - OPEN_CUTOFF.value
        else:
            bar, locked = _last(times, lo, hi), hi - CLOSE_CUTOFF.value
        if bar is not None and bar <= stamp_ns:
            bar = None  # the symbol's auction bar is already over
        auction = pd.Timestamp(hi, tz="UTC") if tif == "cls" else None
        return _planned(tif, symbol, bar, hi, auction, locked)
    start = stamp_ns + 1
    if not cal.is_open(now):
        nxt = cal.next_open(now)
        start = int(times[-1]) + 1 if nxt is None else nxt.value
    i = int(np.searchsorted(times, start, side="left"))
    while i < len(times) and cal.index_of(int(times[i])) < 0:
        i += 1  # a bar outside the regular session
    bar = int(times[i]) if i < len(times) else None
    return _planned(tif, symbol, bar, None, None, None)


def _planned(
    tif: str,
    symbol: str,
    bar: int | None,
    deadline: int | None,
    auction: pd.Timestamp | None,
    locked: int | None,
) -> Plan:
    """Sent at a time that makes the simulated broker see it first on ``bar``: just
    before it (at it, for cls: the auction after it); never, when there is no bar."""
    if bar is None:
        stamp = None if deadline is None else pd.Timestamp(deadline, tz="UTC")
    else:
        stamp = pd.Timestamp(bar if tif == "cls" else bar - 1, tz="UTC")
    return Plan(tif, symbol, bar, deadline, stamp, auction, locked)


def _session(tif: str, now: pd.Timestamp, replay: Replay) -> int:
    """The session an ``opg``/``cls`` order sent ``now`` is for; 422 inside the window."""
    cal = replay.sessions
    cutoff = OPEN_CUTOFF if tif == "opg" else CLOSE_CUTOFF
    edges = (cal.opens if tif == "opg" else cal.closes) - cutoff.value
    k = int(np.searchsorted(edges, now.value, side="right"))  # first cut-off after now
    if k > 0 and now < _evening(cal.dates[k - 1]):
        edge = pd.Timestamp(int(edges[k - 1]), tz="UTC").tz_convert(NEW_YORK)
        raise invalid(
            f"{tif} orders are not accepted between {edge:%H:%M} and {EVENING} ET: "
            f"send it after {EVENING} ET for the next session"
        )
    if k >= len(cal):
        raise invalid(f"no session ahead for a {tif} order")
    return k


def _evening(date: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(f"{date:%Y-%m-%d} {EVENING}", tz=NEW_YORK).tz_convert("UTC")


def _close_of(bar: int, replay: Replay) -> pd.Timestamp:
    """The close of a daily bar's session, inside the bar (its end, without a calendar)."""
    start = pd.Timestamp(bar, tz="UTC")
    end = start + replay.interval - pd.Timedelta(1, "ns")
    close = replay.sessions.next_close(start)
    return close if close is not None and close <= end else end


def _first(times: np.ndarray, lo: int, hi: int | None = None) -> int | None:
    i = int(np.searchsorted(times, lo, side="left"))
    if i < len(times) and (hi is None or times[i] < hi):
        return int(times[i])
    return None


def _last(times: np.ndarray, lo: int, hi: int) -> int | None:
    i = int(np.searchsorted(times, hi, side="left")) - 1
    return int(times[i]) if i >= 0 and times[i] >= lo else None


def aged(now: pd.Timestamp) -> pd.Timestamp:
    """A gtc order's ``expires_at``: 90 days after ``now``, at 16:15 New York."""
    # days on New York's calendar, not 24-hour steps: a DST change in between (the 25-hour
    # day in November) would otherwise land on 23:00 of the day before
    day = now.tz_convert(NEW_YORK).tz_localize(None).normalize() + pd.Timedelta(days=AGED_DAYS)
    return pd.Timestamp(f"{day:%Y-%m-%d} {AGED_AT}", tz=NEW_YORK).tz_convert("UTC")


def expires_at(tif: str, replay: Replay, *, extended: bool = False) -> pd.Timestamp | None:
    """``expires_at`` of an order of ``tif`` sent now (``extended``: an ``extended_hours``
    order; see the module docstring)."""
    if tif == "gtc":
        return aged(replay.now)
    if tif == "day" and extended and replay.intraday:
        return replay.after_hours_end(replay.now)
    return replay.sessions.next_close(replay.now)


def works_at(order: Order, price: float) -> bool:
    """Whether ``order`` trades at ``price`` as its bar's first price (the fill rules')."""
    result = match(order, price, price, price, price, triggered=False)
    return result is not None and result.price is not None


def trades_at(
    broker: SimulatedBroker, sim_id: str, plan: Plan, price: float, limit: float | None,
    volume: float,
) -> bool:  # fmt: skip
    """Whether an order due on this bar may work on it: an ioc/fok/opg order only when it
    trades at the open ``price`` (a fok one only when all of it can, given the venue's
    ``limit`` share of ``volume``)."""
    order = broker.get_order(sim_id)
    if plan.tif == "cls" or not order.status.is_open:
        return True
    if not works_at(order, price):
        return False
    if plan.tif == "fok" and limit is not None:
        return round_lot(limit * volume, broker.lot_size) >= (order.remaining or 0.0)
    return True


def work_bar(
    broker: SimulatedBroker, due: list[tuple[OrderRecord, Plan]], symbol: str,
    t: pd.Timestamp, bar: tuple[float, float, float, float], limit: float | None,
    volume: float,
) -> None:  # fmt: skip
    """Match ``symbol``'s ``bar`` (open, high, low, close) at ``t``, one order taking at most
    ``limit`` of ``volume``, by the time in force of the orders ``due`` on it: ioc, fok and
    opg ones trade at its open or not at all, cls ones in the closing auction after it;
    what is left of them then ends."""
    o, h, low, c = bar
    for rec, plan in due:
        if not trades_at(broker, rec.sim_id, plan, o, limit, volume):
            end(broker, rec, plan, t)
    saved, broker.volume_limit = broker.volume_limit, limit
    try:
        broker.process_bar(symbol, t, o, h, low, c, volume)
        close_auction(broker, due, symbol, c, volume)
    finally:
        broker.volume_limit = saved
    for rec, plan in due:
        end(broker, rec, plan, None)


def end_lapsed(
    broker: SimulatedBroker, lapsed: list[tuple[OrderRecord, Plan]], then: pd.Timestamp
) -> None:
    """End ``lapsed`` orders at their deadline (a day order at its session's close, as
    Alpaca), then set the broker's time to ``then``."""
    for rec, plan in lapsed:
        end(broker, rec, plan, pd.Timestamp(plan.deadline_ns, tz="UTC"))
        broker.set_time(then)


def close_auction(
    broker: SimulatedBroker, due: list[tuple[OrderRecord, Plan]], symbol: str, close: float,
    volume: float,
) -> None:  # fmt: skip
    """After the bar: end what is left of the ioc/fok/opg orders due on it, then run the
    closing auction of the cls ones (a bar of the one price ``close``, at the close)."""
    auction = None
    for rec, plan in due:
        if plan.auction is None:
            end(broker, rec, plan, None)
        elif broker.get_order(rec.sim_id).status.is_open:
            auction = plan.auction
    if auction is not None:
        broker.process_bar(symbol, auction, close, close, close, close, volume)


def end(broker: SimulatedBroker, rec: OrderRecord, plan: Plan, at: pd.Timestamp | None) -> None:
    """End what is left of an order by its time in force (``at``: the broker's time then)."""
    if not broker.get_order(rec.sim_id).status.is_open:
        return
    if at is not None:
        broker.set_time(at)
    rec.ended_as = plan.ending
    broker.cancel_order(rec.sim_id)


def check_unlocked(plan: Plan | None, now: pd.Timestamp) -> None:
    """An opg/cls order past its cut-off cannot be replaced (ours: 422). A cancel then
    waits, ``pending_cancel``, and is rejected by the auction (:mod:`.lifecycle`)."""
    if plan is None or plan.locked_ns is None or now.value < plan.locked_ns:
        return
    cutoff = pd.Timestamp(plan.locked_ns, tz="UTC").tz_convert(NEW_YORK)
    message = f"{plan.tif} orders cannot be replaced after {cutoff:%H:%M} ET"
    raise ApiError(422, CODE_RULE, message)


class TifBook:
    """The plans of the open orders whose time in force the venue enforces."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}  # by the simulated broker's order id
        self._by_bar: dict[tuple[str, int], list[str]] = {}
        self._deadlines: list[tuple[int, str]] = []  # a heap

    def add(self, sim_id: str, plan: Plan) -> None:
        self.plans[sim_id] = plan
        if plan.bar_ns is not None:
            self._by_bar.setdefault((plan.symbol, plan.bar_ns), []).append(sim_id)
        elif plan.deadline_ns is not None:
            heapq.heappush(self._deadlines, (plan.deadline_ns, sim_id))

    def due(self, symbol: str, t_ns: int) -> list[tuple[str, Plan]]:
        """The plans working on ``symbol``'s bar at ``t_ns`` (taken out of the book)."""
        ids = self._by_bar.pop((symbol, t_ns), None)
        return [(i, self.plans.pop(i)) for i in ids or () if i in self.plans]

    def lapsed(self, t_ns: int) -> list[tuple[str, Plan]]:
        """The plans without a bar whose deadline is at or before ``t_ns`` (taken out)."""
        out = []
        while self._deadlines and self._deadlines[0][0] <= t_ns:
            _, sim_id = heapq.heappop(self._deadlines)
            if sim_id in self.plans:
                out.append((sim_id, self.plans.pop(sim_id)))
        return out

    def discard(self, sim_id: str) -> Plan | None:
        return self.plans.pop(sim_id, None)
