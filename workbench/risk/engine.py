"""The risk engine: between every strategy intent and execution, in backtests and live alike.

Two calls per bar, in this order (the backtester and the live runner make both):

1. :meth:`RiskEngine.on_bar` with the marked equity: keeps the peak and the day's
   start equity, reads the kill-switch file and changes made by ``workbench risk``
   (another process), applies the drawdown halt and the daily loss limit, and returns
   the engine's own intents (cancel every order, liquidate every position, reason
   ``risk=<rule>``) that go straight to execution;
2. :meth:`RiskEngine.check` with the strategy's intents: targets are resolved into
   their orders at the decision price (the close of the decision bar), every order
   runs through the rules, and what passes comes back as intents (unchanged, resized,
   or dropped). A resized target becomes the target that sends exactly the approved
   orders. Cancels always pass (:mod:`workbench.risk.approval`).

The day (the daily loss limit's start equity and its "only exits until the next day",
``max_orders_per_day``) is the run's trading day (:class:`~workbench.data.days.TradingDays`:
the calendar's local day, New York's for ``XNYS``, UTC's for ``24/7``); an engine built
without ``days`` counts the default calendar's (``XNYS``: New York days; daily bars on
their dates, judged from the bars), as a run spec without a calendar does.

Trading states: ``ACTIVE``, ``REDUCING`` (only orders that bring a position toward
zero pass) and ``HALTED`` (nothing passes; the kill switch is this state). The state
lives in a :class:`~workbench.risk.state.RiskStore`, so a halt survives restarts and
only ``workbench risk reset --confirm`` (or :meth:`RiskEngine.reset`) lifts it.
Every refusal, resize, halt and liquidation is a :class:`RiskEvent` in
:attr:`RiskEngine.events` and a log line on ``workbench.risk``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import pandas as pd

from workbench.data.days import TradingDays
from workbench.intents import CancelIntent, Intent, TargetIntent
from workbench.risk.approval import approve
from workbench.risk.band import QuietBand
from workbench.risk.book import Book
from workbench.risk.config import RiskConfig
from workbench.risk.events import RiskAction, RiskEvent
from workbench.risk.rules import DailyLossRule, MaxDrawdownRule, order_rules
from workbench.risk.state import (
    MemoryRiskStore,
    RiskState,
    RiskStore,
    TradingState,
    halted,
    reducing,
    reset,
)
from workbench.risk.views import Account, Market

__all__ = ["RiskEngine"]

A = RiskAction


class RiskEngine:
    """Applies a :class:`RiskConfig`; keeps its state in ``store`` (in memory by default).

    ``strategy`` names the strategy on every log line (whoever builds the engine knows
    it: the backtester and the live composition give the name their execution lines
    carry); an engine built without one logs lines without it. ``days``: the run's trading
    days (the composition root gives the run's calendar's; module docstring for the default).
    """

    def __init__(
        self,
        config: RiskConfig | None = None,
        store: RiskStore | None = None,
        *,
        strategy: str | None = None,
        days: TradingDays | None = None,
    ) -> None:
        self.config = config or RiskConfig()
        self.days = days if days is not None else TradingDays.default()
        self.strategy = strategy
        self._store: RiskStore = store if store is not None else MemoryRiskStore()
        self.rules = order_rules(self.config)
        cfg = self.config
        self.drawdown = MaxDrawdownRule(cfg.max_drawdown) if cfg.max_drawdown else None
        self.daily = DailyLossRule(cfg.daily_loss_limit) if cfg.daily_loss_limit else None
        self.kill_file = Path(cfg.kill_switch_file) if cfg.kill_switch_file else None
        self.events: list[RiskEvent] = []
        self._state = self._store.load() or RiskState()
        # the quiet-bar path of on_bar_ns (see there): what the last full step left, in
        # the band the bar kernel tests inline (closed until the first full step)
        self.band = QuietBand(self._store)
        self._quick = False
        dd, daily = self.drawdown, self.daily
        self._dd_below = dd.halts_at if dd is not None else math.inf
        self._daily_upto = daily.allows_up_to if daily is not None else math.inf
        self._start = 0.0
        self._liquidating: set[str] = set()
        # a restart in REDUCING keeps the orders placed since; a restart in HALTED cancels again
        s = self._state
        self._handled = (s.trading, s.since) if s.trading is TradingState.REDUCING else None

    @property
    def store(self) -> RiskStore:
        """Where the state lives (brought up to date with the quiet bars first)."""
        self._flush()
        return self._store

    @property
    def state(self) -> RiskState:
        self._flush()
        return self._state

    @property
    def trading(self) -> TradingState:
        return self._state.trading

    # -- per bar ---------------------------------------------------------------------------
    def on_bar_ns(
        self,
        time_ns: int,
        account: Account,
        market: Market | None = None,
        equity: float | None = None,
    ) -> list[Intent]:
        """:meth:`on_bar` at ``time_ns`` (UTC epoch ns), with the caller's marked equity if
        given (else the account's).

        A quiet bar takes a path of a few float comparisons: the state is ACTIVE in an
        in-memory store nobody changed since the last full step, no kill-switch file is
        configured, the trading day is the same, and neither the drawdown nor the daily loss
        limit is reached. The peak and last equity are then kept as floats and written to
        the state when anyone reads it (:attr:`state`, :attr:`store`, :meth:`check`, the
        next full step). Most such bars are in :attr:`band` (below the peak, above the
        limits), which the bar kernel tests without calling here. Any other bar, a breach
        included, takes the full step; a test holds both paths to the same states and
        events.
        """
        if equity is None:
            equity = float(account.get_account().equity)
        band = self.band
        if band.observe(time_ns, equity):  # most bars: no new peak, no limit near
            return []
        if (
            self._quick
            and band.start_ns <= time_ns < band.end_ns
            and band.store._state is band.seen
        ):
            peak = band.peak
            if equity > peak:
                peak = equity
            start = self._start  # below: the rules' own thresholds, as floats
            if (not peak > 0 or (peak - equity) / peak < self._dd_below) and (
                not start > 0 or (start - equity) / start <= self._daily_upto
            ):
                if peak != band.peak:
                    band.peak = peak
                    band.floor = self._quiet_floor()
                band.last = equity
                band.dirty = True
                band.at = time_ns
                return []
        return self.on_bar(pd.Timestamp(time_ns, tz=UTC), account, market, equity=equity)

    def on_bar(
        self,
        time: pd.Timestamp,
        account: Account,
        market: Market | None = None,
        *,
        equity: float | None = None,
    ) -> list[Intent]:
        """Observe the marked equity at ``time`` (the account's unless given); return the
        engine's own intents (if any)."""
        before = self._state
        self._flush()
        if equity is None:
            equity = float(account.get_account().equity)
        kill = self.kill_file is not None and self.kill_file.exists()
        today = self.days.day(time.value)
        day = today.iso, today.next_iso
        events: list[RiskEvent] = []

        def step(stored: RiskState) -> RiskState:
            events.clear()
            return self._step(stored, before, time, day, equity, kill, events)

        self._state = self._store.update(step)
        band = self.band
        band.at = time.value
        for event in events:
            self._record(event)
        s = self._state
        self._quick = (
            type(self._store) is MemoryRiskStore
            and self.kill_file is None
            and s.trading is TradingState.ACTIVE
            and s.peak_equity is not None
            and s.last_equity is not None
        )
        if self._quick:
            band.seen = self._store.load()
            band.start_ns, band.end_ns = today.start_ns, today.end_ns
            band.peak, band.last = s.peak_equity, s.last_equity
            self._start = s.day_start_equity if s.day_start_equity is not None else 0.0
            band.floor = self._quiet_floor()
        else:
            band.close()
        if s.trading is TradingState.ACTIVE:
            self._liquidating.clear()
            return []
        return self._actions(time, account, equity)

    def _quiet_floor(self) -> float:
        """The equity from which (up to the peak) neither the drawdown nor the daily loss
        limit can be reached: one comparison on most quiet bars. It stays a billionth of
        the peak (of the day's start) above the exact thresholds, so that rounding never
        lets a bar through that the exact checks below it would stop."""
        peak, start = self.band.peak, self._start
        floor = -math.inf
        if peak > 0 and self._dd_below < math.inf:
            floor = peak * (1.0 - self._dd_below) + peak * 1e-9
        if start > 0 and self._daily_upto < math.inf:
            floor = max(floor, start * (1.0 - self._daily_upto) + start * 1e-9)
        return floor

    def _flush(self) -> None:
        """Write the peak and last equity of the quiet bars (:meth:`on_bar_ns`) to the state."""
        band = self.band
        if not band.dirty:
            return
        band.dirty = False
        peak, last = band.peak, band.last
        ours = self._store.load() is band.seen  # else changed by another hand: not seen yet
        self._state = self._state.marked(peak, last)
        new = self._store.update(lambda s: s.marked(peak, last))
        self._went_on_from(new if ours else None)

    def _step(
        self,
        s: RiskState,
        before: RiskState,
        time: pd.Timestamp,
        day: tuple[str, str],
        equity: float,
        kill: bool,
        events: list[RiskEvent],
    ) -> RiskState:
        """The new state from the stored one (pure but for ``events``)."""
        if (s.trading, s.since) != (before.trading, before.since):
            events.append(self._external(s, time))
            if s.trading is TradingState.HALTED and s.rule == "kill_switch":
                s = dataclasses.replace(s, flatten=s.flatten and self.config.liquidate_on_kill)
        today, tomorrow = day
        if s.day == tomorrow:
            # not a new day: the stored date is a UTC one of this same day (a state file from
            # before days were the calendar's: a New York evening is the next UTC date; or
            # the first bar of a run judged daily at 00:00 UTC): its count and start go on
            s = dataclasses.replace(s, day=today)
        elif s.day != today:
            start = s.last_equity if s.last_equity is not None else equity
            s = dataclasses.replace(s, day=today, day_start_equity=start, orders_today=0)
            if s.trading is TradingState.REDUCING and s.until_day and today >= s.until_day:
                s = dataclasses.replace(
                    s,
                    trading=TradingState.ACTIVE,
                    reason="",
                    since=time.isoformat(),
                    until_day=None,
                )
                why = f"new day {today} ({self.days.zone})"
                events.append(RiskEvent(time, "daily_loss_limit", A.RESUMED, why))
        peak = equity if s.peak_equity is None else max(s.peak_equity, equity)
        if peak != s.peak_equity or equity != s.last_equity:  # flat: often the same
            s = s.marked(peak, equity)
        numbers = {"equity": equity, "peak": peak, "day_start_equity": s.day_start_equity}
        if kill and s.trading is not TradingState.HALTED:
            why = f"kill switch file {self.kill_file} exists"
            s = halted(
                s, rule="kill_switch", reason=why, time=time, flatten=self.config.liquidate_on_kill
            )
            events.append(RiskEvent(time, "kill_switch", A.KILL_SWITCH, why, details=numbers))
        if self.drawdown is not None and s.trading is not TradingState.HALTED:
            why = self.drawdown.breach(peak, equity)
            if why:
                s = halted(s, rule=self.drawdown.name, reason=why, time=time, flatten=True)
                events.append(RiskEvent(time, self.drawdown.name, A.HALTED, why, details=numbers))
        if self.daily is not None and s.trading is TradingState.ACTIVE:
            why = self.daily.breach(s.day_start_equity, equity)
            if why:
                s = reducing(s, rule=self.daily.name, reason=why, time=time, until_day=tomorrow)
                events.append(
                    RiskEvent(
                        time,
                        self.daily.name,
                        A.REDUCING,
                        f"{why}; only exits until {tomorrow} ({self.days.zone})",
                        details=numbers,
                    )
                )
        return s

    def _external(self, s: RiskState, time: pd.Timestamp) -> RiskEvent:
        """An event for a state change made outside this engine (``workbench risk ...``)."""
        why = s.reason or str(s.trading)
        if s.trading is TradingState.HALTED:
            return RiskEvent(time, s.rule or "kill_switch", A.KILL_SWITCH, why)
        if s.trading is TradingState.REDUCING:
            return RiskEvent(time, s.rule or "trading_state", A.REDUCING, why)
        return RiskEvent(time, "reset", A.RESET, why)

    def _actions(self, time: pd.Timestamp, account: Account, equity: float) -> list[Intent]:
        """Cancel once per halt or reduce-only period; keep liquidating a halt.

        A halt cancels every order. Reduce-only cancels what may open or add, and keeps the
        protective exits (stop-losses, take-profits) of the positions it leaves open: they
        only ever reduce, and a daily loss limit must not leave a position unprotected."""
        s = self._state
        out: list[Intent] = []
        reason = f"risk={s.rule or s.trading.lower()}"
        working = account.get_open_orders()
        fresh = (s.trading, s.since) != self._handled
        if fresh:
            self._handled = (s.trading, s.since)
            cancel = working
            if s.trading is not TradingState.HALTED:
                cancel = [o for o in working if not o.request.protective]
            if cancel:
                if len(cancel) == len(working):
                    out.append(CancelIntent(time, reason=reason))
                else:
                    out.extend(CancelIntent(time, order_id=o.id, reason=reason) for o in cancel)
                kept = len(working) - len(cancel)
                self._record(
                    RiskEvent(
                        time,
                        s.rule or "trading_state",
                        A.CANCELED,
                        f"canceled {len(cancel)} working order(s): trading is {s.trading}"
                        + (f"; kept {kept} protective exit(s)" if kept else ""),
                        details={"equity": equity},
                    )
                )
                working = [o for o in working if o.request.protective] if kept else []
        if s.trading is not TradingState.HALTED or not s.flatten:
            return out
        busy = {o.symbol for o in working}
        for sym, pos in sorted(account.get_positions().items()):
            if pos.quantity == 0.0 or sym in busy:
                continue
            out.append(TargetIntent(sym, time, quantity=0.0, reason=reason))
            if sym not in self._liquidating:
                self._liquidating.add(sym)
                self._record(
                    RiskEvent(
                        time,
                        s.rule or "trading_state",
                        A.LIQUIDATED,
                        f"closing {pos.quantity:.6g} {sym} at market (last {pos.last_price:,.2f})",
                        symbol=sym,
                        details={
                            "quantity": pos.quantity,
                            "price": pos.last_price,
                            "equity": equity,
                        },
                    )
                )
        return out

    # -- per intent ------------------------------------------------------------------------
    def check(
        self,
        intents: Sequence[Intent],
        time: pd.Timestamp,
        account: Account,
        market: Market | None = None,
        *,
        lot_size: float | None = None,
    ) -> list[Intent]:
        """The intents that may go to execution (the engine's own first, if this bar was
        not observed yet through :meth:`on_bar`)."""
        out: list[Intent] = []
        if self.band.at != time.value:
            out.extend(self.on_bar(time, account, market))
        if not intents:
            return out
        # the rules read the trading state and today's count, never the quiet bars' peak
        # and last equity: those are written with the count below (one store update)
        book = Book(time, account, market, self._state)
        out.extend(approve(intents, book, self.rules, lot_size, self._record))
        if book.approved:
            self._count(book.approved)
        return out

    def _count(self, n: int) -> None:
        """``n`` more orders approved today, written with the quiet bars' equity (if any)."""
        band = self.band
        ours = self._quick and self._store.load() is band.seen
        if band.dirty:
            band.dirty = False
            peak, last = band.peak, band.last
            new = self._state = self._store.update(lambda s: s.marked(peak, last, n))
        else:
            new = self._state = self._store.update(lambda s: s.counted(n))
        self._went_on_from(new if ours else None)

    def _went_on_from(self, state: RiskState | None) -> None:
        """The quiet-bar path goes on from the state just written; ``None``: another hand
        changed the store since, so the next bar takes the full step."""
        self.band.seen = state
        if state is None:
            self.band.close()

    # -- people ------------------------------------------------------------------------------
    def kill(self, reason: str = "kill switch", time: pd.Timestamp | None = None) -> None:
        """Halt at once (the next :meth:`on_bar` cancels and, if configured, liquidates)."""
        time = time if time is not None else pd.Timestamp.now(tz="UTC")
        self._state = self.store.update(
            lambda s: halted(
                s,
                rule="kill_switch",
                reason=reason,
                time=time,
                flatten=self.config.liquidate_on_kill,
            )
        )
        self._record(RiskEvent(time, "kill_switch", A.KILL_SWITCH, reason))

    def reset(self, reason: str = "reset by a person", time: pd.Timestamp | None = None) -> None:
        """Lift a halt or a reduce-only state; the drawdown peak restarts from the next bar."""
        time = time if time is not None else pd.Timestamp.now(tz="UTC")
        self._state = self.store.update(lambda s: reset(s, reason=reason, time=time))
        self._handled = None
        self._record(RiskEvent(time, "reset", A.RESET, reason))

    def _record(self, event: RiskEvent) -> None:
        self.events.append(event)
        event.log(self.strategy)
