"""Where a live run picks up: after a restart, after a venue outage, once a day.

The state is read back (bars replayed into the strategy's indicators, unfinished plans
finished, orders held back by ``conflict = wait`` handed back to the execution engine,
undecided bars decided), every order the state thinks open is looked up at
the broker, and the broker's positions and open orders are held against what the state
explains (:mod:`workbench.live.holdings`). The rules are the runner's module docstring's
(:mod:`workbench.live.runner`); this is the part of :class:`~workbench.live.runner.LiveRunner`
that carries them out, apart from the bar loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pandas as pd

from workbench.broker import Bar
from workbench.execution.engine import (
    Step,
    Submit,
)
from workbench.kernel import BarKernel
from workbench.live.holdings import (
    HoldingsCheck,
    compare_holdings,
    log_check,
    refuse,
    take_over,
    with_legs,
)
from workbench.live.order_sync import OrderSync
from workbench.live.plans import steps_from_json
from workbench.series import SymbolData

log = logging.getLogger("workbench.live.runner")  # the runner's records, as before the split
_FIELDS = ("open", "high", "low", "close", "volume")


class Recovery(OrderSync):
    """Restore, reconcile and check holdings; the runner's loop decides bars (``_handle``)."""

    data: dict[str, SymbolData]
    kernel: BarKernel
    adopt_positions: bool
    holdings_settle: tuple[float, ...]
    _handle: Callable[[list[Bar]], int | None]

    def _restore(self) -> int:
        """Replay what was decided, reconcile with the broker, finish what was not."""
        seen = self.state.bars()
        decided = self.state.decided_through()
        if decided is None:  # a new state file, or one of a runner without the mark
            last = self.state.last_bar_ns()
            decided = -1 if last is None else last
            self.state.set_meta(decided_through=str(decided))
        times = sorted({t for f in seen.values() for t in f.index})
        replayed = [t for t in times if t.value <= decided]
        for t in replayed:
            for sym, frame in seen.items():
                if sym in self.data and t in frame.index:
                    row = frame.loc[t]
                    self.data[sym].push(t.value, *map(float, row[list(_FIELDS)]))
            self.kernel.advance(t.value)
            self.kernel.warm()
        if replayed:
            log.info(
                "replayed %d bars from %s",
                len(replayed),
                self.state.path,
                extra={"event": "restore", "strategy": self.name},
            )
        pending = {
            t: steps_from_json(self.state.decision(t)[0]) for t in self.state.pending_decisions()
        }
        # the updates the broker holds already first (a resumed simulated venue's, whose
        # runner died before it recorded them): their fills as made, fees included, where
        # a lookup knows only an order's average price
        self._sync()
        at_broker = self._reconcile(pending)
        self.check_holdings("start", adopt=self.adopt_positions)
        self._resume_waiting(pending)
        for time_ns, steps in pending.items():
            decision = pd.Timestamp(time_ns, tz="UTC")
            todo = [
                s
                for s in steps
                if not (isinstance(s, Submit) and s.request.client_order_id in at_broker)
            ]
            log.warning(
                "finishing the unfinished plan of %s (%d of %d steps left)",
                decision,
                len(todo),
                len(steps),
                extra={"event": "resend_plan", "strategy": self.name},
            )
            self._send(todo, decision)
            self.state.finish_decision(time_ns)
        undecided = [t for t in times if t.value > decided]
        for t in undecided:
            group = [
                Bar(sym, t, *map(float, frame.loc[t, list(_FIELDS)]))
                for sym, frame in seen.items()
                if t in frame.index
            ]
            log.warning(
                "deciding bar %s, recorded before a restart but never decided",
                t,
                extra={"event": "late_decision", "strategy": self.name},
            )
            self._handle(group)
        if times:
            self.state.heartbeat(last_bar=times[-1].isoformat())
        return len(replayed)

    def _reconcile(self, pending: dict[int, list[Step]]) -> set[str]:
        """Look up at the broker every order the state thinks open and every order of an
        unfinished plan; record what it shows (fills included), and the ends the stream did
        not tell for the engine to follow (:meth:`_looked_up`). Returns the ids it has."""
        rows = {row["client_order_id"]: row for row in self.state.open_orders()}
        for steps in pending.values():
            for step in steps:
                if isinstance(step, Submit) and step.request.client_order_id:
                    rows.setdefault(step.request.client_order_id, {})
        found: set[str] = set()
        for cid in rows:
            order = self.broker.get_order_by_client_id(cid)
            if order is None:
                continue  # never reached the broker: its plan (if unfinished) sends it
            found.add(cid)
            for known in with_legs(self.broker, order):  # a bracket's exits: recorded too
                self._looked_up(known)  # an end: the engine hears it at the next _sync
            # an entry that ended partly filled while the runner was down, or before its
            # protective exit was recorded: protected now, or its exit found, never sent twice
            protective = self.execution.protect(order)
            if protective is not None:
                self._learn_order(protective)
        if rows:
            log.info(
                "reconciled %d order(s) with the broker, %d found",
                len(rows),
                len(found),
                extra={"event": "reconcile_orders", "strategy": self.name},
            )
        return found

    def _resume_waiting(self, pending: dict[int, list[Step]]) -> None:
        """Hand the orders held back (``wait``) when the runner stopped, and that the broker
        does not have (:meth:`_reconcile` recorded those it has), back to the execution
        engine: held again while a working order on the other side is, else sent now.
        One of an unfinished plan is left to that plan."""
        for row in self.state.waiting_orders():
            cid, time_ns = row["client_order_id"], row["decision_ns"]
            if time_ns in pending:
                continue
            plan = self.state.decision(time_ns)
            steps = [] if plan is None else steps_from_json(plan[0])
            step = next(
                (s for s in steps if isinstance(s, Submit) and s.request.client_order_id == cid),
                None,
            )
            if step is None:  # a row without its plan: nothing to send it from
                log.error(
                    "order %s was waiting, its plan is not in the state: marked rejected",
                    cid,
                    extra={"event": "resume_waiting", "strategy": self.name, "reason": "no plan"},
                )
                self.state.set_order_status(cid, "rejected")
                continue
            log.warning(
                "handing back %s %s %s, held until the working order on the other side is done",
                step.request.side,
                step.request.symbol,
                cid,
                extra={"event": "resume_waiting", "strategy": self.name, "client_order_id": cid},
            )
            self._send([step], pd.Timestamp(time_ns, tz="UTC"))

    def check_holdings(self, when: str, *, adopt: bool = False) -> HoldingsCheck:
        """Compare the broker's positions and open orders with the state; stop on a
        difference it does not explain (or, with ``adopt``, take them over).

        ``when`` names the occasion in the log (``start``, ``daily``, ``after outage``).
        A difference is looked at again after each wait of :attr:`holdings_settle`, the
        broker's order updates and the orders the state thinks open learned in between:
        a fill whose update trails the broker's positions (a bracket's exit filling
        during the bar, say) is not taken for a difference; a real one stays.
        """
        check = compare_holdings(self.state, self.broker)
        for delay in () if check.clean else self.holdings_settle:
            threading.Event().wait(delay)  # the stream's news may trail the REST answers
            self._sync()
            self._reconcile({})
            check = compare_holdings(self.state, self.broker)
            if check.clean:
                break
        log_check(check, when, self.name)
        self.state.set_meta(holdings=check.summary(when, adopted=adopt))
        if check.clean:
            return check
        if not adopt:
            refuse(check, self.state, when, self.name)
        take_over(check, self.state, self.broker, self._learn_order, self.name)
        return check

    def _after_outage(self) -> None:
        """What the runner does before trading again once the venue answers: every order
        the state thinks open and every order of an unfinished plan is looked up by client
        order id (fills made meanwhile are recorded; an order the venue has is never sent
        again; an order that ended meanwhile is followed by the execution engine at the
        next bar, as its lost update would have been: the orders it held for it go out),
        then the venue's positions and open orders are held against the state as at start
        (:meth:`check_holdings`): a difference the state does not explain stops the runner
        (exit code 6)."""
        pending = {
            t: steps_from_json(self.state.decision(t)[0]) for t in self.state.pending_decisions()
        }
        self._reconcile(pending)
        self.check_holdings("after outage")
