"""The per-bar step: the one place the decision sequence of every run is written.

The backtester (:mod:`workbench.backtesting.engine`) and the live runner
(:mod:`workbench.live.runner`) both call :class:`BarKernel`; they differ only in what is
around it (the simulated broker and an in-memory journal and a fast loop, or any broker
with the SQLite journal and recovery). For the bar(s) at one time, in this order:

1. **reveal**: the bars are made visible to the strategy's context (:meth:`reveal_row`
   for bars held in memory, :meth:`reveal_bar` for a bar that just arrived) and the
   clock moves to the bar (:meth:`advance`). The caller has already booked the fills
   the bar caused and marked the portfolio at its close;
2. **risk update**: the risk engine sees the marked equity
   (:meth:`~workbench.risk.RiskEngine.on_bar`): the drawdown halt, the daily loss limit
   and the kill switch act here and return the engine's own intents (cancel every
   order, liquidate);
3. **decide**: ``strategy.on_bar(ctx)``, on the same state the risk engine saw (its own
   intents are not sent yet, so backtest and live show the strategy the same thing);
4. **risk check**: every strategy intent passes
   :meth:`~workbench.risk.RiskEngine.check`, with the run's lot size (a halt decided in
   step 2 already refuses them);
5. **exits only on stale data**: while the data is stale (a live feed that stopped),
   only cancels and orders that reduce a position pass; a backtest's data never is;
6. **plan**: the risk engine's own intents first, then the approved strategy intents,
   become one execution plan (:meth:`~workbench.execution.engine.ExecutionEngine.plan`,
   deterministic client order ids), which the caller sends: at once in a backtest,
   after writing it down in a live run.

A decision on bar t's close therefore reaches the venue after t closes and fills at
bar t+1's open at the earliest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from workbench.broker import Bar
from workbench.context import Context
from workbench.errors import StrategyError, WorkbenchError
from workbench.execution.engine import ExecutionEngine, Step
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.risk import ContextMarket, RiskEngine
from workbench.risk.band import QuietBand
from workbench.risk.views import Account
from workbench.series import SymbolData
from workbench.strategy import Strategy

__all__ = ["BarKernel", "KernelEvent"]

log = logging.getLogger(__name__)

#: A journal entry: kind (``risk`` or ``blocked_stale_feed``), detail, symbol.
KernelEvent = tuple[str, dict[str, Any], str | None]
_NO_STEPS: list[Step] = []


class BarKernel:
    """Steps 1-6 of the module docstring for one strategy, one account and one context.

    ``price``, ``position`` and ``equity`` are what execution sizes targets with (the
    decision bar's close, the held quantity, the marked equity); ``is_stale`` (optional)
    says whether the data feeding the run is stale now.
    """

    __slots__ = (
        "_blocked", "_market", "_on_bar", "_risk_seen", "account", "ctx", "data", "decide",
        "equity", "execution", "is_stale", "lot_size", "position", "price", "risk",
        "step_row", "strategy",
    )  # fmt: skip

    #: Steps 2-6 on the bars already revealed: ``decide(equity=None)`` (risk update,
    #: ``on_bar``, risk check, stale-data gate, plan; module docstring). ``equity`` is the
    #: marked equity the risk engine observes when the caller has just computed it (the
    #: backtester); by default the account's.
    decide: Callable[..., list[Step]]
    #: Steps 1-6 for one symbol's bar held in memory (the backtester's per-bar call), the
    #: same function: ``step_row(equity, sd, row, time_ns)`` first reveals rows up to
    #: ``row`` of ``sd`` and moves the clock to ``time_ns``; returns the plan.
    step_row: Callable[[float, SymbolData, int, int], list[Step]]

    def __init__(
        self,
        strategy: Strategy,
        ctx: Context,
        data: dict[str, SymbolData],
        account: Account,
        execution: ExecutionEngine,
        *,
        risk: RiskEngine | None = None,
        price: Callable[[str], float] | None = None,
        position: Callable[[str], float],
        equity: Callable[[], float],
        is_stale: Callable[[], bool] | None = None,
    ) -> None:
        self.strategy = strategy
        self.ctx = ctx
        self.data = data
        self.account = account
        self.execution = execution
        self.risk = risk
        self.lot_size = execution.config.lot_size
        self.price = price or (lambda s: data[s].last("close"))
        self.position = position
        self.equity = equity
        self.is_stale = is_stale
        self._on_bar = strategy.on_bar
        self._market = ContextMarket(ctx) if risk is not None else None
        self._risk_seen = len(risk.events) if risk is not None else 0
        self._blocked: list[KernelEvent] = []
        self.decide = self.step_row = self._bind()

    # -- 0. before the first bar --------------------------------------------------------
    def init(self) -> None:
        """``strategy.init(ctx)``; indicators declared from here on update with each bar."""
        try:
            self.strategy.init(self.ctx)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise StrategyError(f"{self.strategy.label()}.init failed: {exc!r}") from exc
        self.ctx.initialized = True

    # -- 1. reveal ----------------------------------------------------------------------
    def reveal_row(self, symbol: str, row: int) -> None:
        """Bars held in memory: rows up to ``row`` of ``symbol`` become visible."""
        self.data[symbol].n = row + 1

    def reveal_bar(self, bar: Bar) -> None:
        """A bar that just closed: appended (indicators update incrementally)."""
        self.data[bar.symbol].push(
            bar.time.value, bar.open, bar.high, bar.low, bar.close, bar.volume
        )

    def advance(self, time_ns: int) -> None:
        """The clock moves to the bar(s) just revealed (their start time, UTC)."""
        self.ctx.advance_to(time_ns)

    # -- 1-6, bound once ------------------------------------------------------------------
    def _bind(self) -> Callable[..., list[Step]]:
        """:attr:`decide` and :attr:`step_row`: one function, the one place steps 2-6 are
        written, with what it reads every bar held in its closure (a quiet bar is a hot
        path: each Python call and attribute lookup saved there is saved a million times
        in a long backtest). Called with a row to reveal, it reveals it first."""
        ctx = self.ctx
        on_bar = self._on_bar
        risk = self.risk
        observe = risk.on_bar_ns if risk is not None else None
        band = risk.band if risk is not None else QuietBand()
        account, market = self.account, self._market
        plan = self._plan
        failure = self._failure

        def step(
            equity: float | None = None,
            sd: SymbolData | None = None,
            row: int = 0,
            time_ns: int = 0,
        ) -> list[Step]:
            if sd is not None:  # 1. reveal (reveal_row and advance, written out)
                sd.n = row + 1
                ctx.time_ns = time_ns
            else:
                time_ns = ctx.time_ns
            # 2. risk update: a bar in the risk engine's quiet band is recorded here as
            # QuietBand.observe records it (inlined: no call); any other bar goes to it
            if observe is None:
                own = None
            elif (
                equity is not None
                and band.floor <= equity <= band.peak
                and band.start_ns <= time_ns < band.end_ns
                and band.store._state is band.seen
            ):
                band.last = equity
                band.dirty = True
                band.at = time_ns
                own = None
            else:
                own = observe(time_ns, account, market, equity)
            try:  # 3. decide
                on_bar(ctx)
            except WorkbenchError:
                raise
            except Exception as exc:
                raise failure(exc) from exc
            if ctx.intents or own:  # 4-6 on a bar with intents
                return plan(own)
            return _NO_STEPS

        return step

    def _failure(self, exc: Exception) -> StrategyError:
        return StrategyError(f"{self.strategy.label()}.on_bar failed at {self.ctx.time}: {exc!r}")

    def _plan(self, own: list[Intent] | None) -> list[Step]:
        """Steps 4-6, on a bar with intents (the strategy's, the risk engine's or both)."""
        ctx = self.ctx
        risk = self.risk
        decision = ctx.time
        intents = ctx.take_intents()
        if risk is not None and intents:
            intents = risk.check(
                intents, decision, self.account, self._market, lot_size=self.lot_size
            )
        if own:
            intents = own + intents
        if intents and self.is_stale is not None and self.is_stale():
            intents = self._exits_only(intents)
        if not intents:
            return _NO_STEPS
        return self.execution.plan(
            intents,
            decision=decision,
            price=self.price,
            position=self.position,
            equity=self.equity(),
        )

    def warm(self) -> None:
        """Step 3 alone, its intents dropped: rebuilds a strategy's state from bars that
        were decided before a restart (their orders were sent then)."""
        try:
            self._on_bar(self.ctx)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc
        self.ctx.take_intents()

    def events(self) -> list[KernelEvent]:
        """What the risk engine did and what the stale-data gate blocked since the last
        call, as journal entries (kind ``risk`` is what reconciliation reads)."""
        out, self._blocked = self._blocked, []
        if self.risk is not None:
            new = self.risk.events[self._risk_seen :]
            self._risk_seen = len(self.risk.events)
            out = [
                ("risk", {"bar_time": e.time.isoformat(), "rule": e.rule,
                          "action": str(e.action), "reason": e.reason}, e.symbol)
                for e in new
            ] + out  # fmt: skip
        return out

    def _exits_only(self, intents: list[Intent]) -> list[Intent]:
        """While the data is stale, only cancels and orders that reduce a position pass."""
        kept: list[Intent] = []
        for intent in intents:
            held = self.position(intent.symbol) if intent.symbol else 0.0
            if isinstance(intent, CancelIntent):
                ok = True
            elif isinstance(intent, TargetIntent):
                ok = intent.percent == 0 or intent.quantity == 0 or intent.notional == 0
            elif isinstance(intent, OrderIntent):
                signed = intent.request.side.sign * (intent.request.quantity or float("inf"))
                ok = held != 0 and (held > 0) != (signed > 0) and abs(signed) <= abs(held)
            else:
                ok = False
            if ok:
                kept.append(intent)
            else:
                log.warning(
                    "blocked %s: the feed is stale", type(intent).__name__,
                    extra={"event": "blocked_stale_feed", "strategy": self.execution.strategy,
                           "symbol": intent.symbol, "reason": "stale_feed"},
                )  # fmt: skip
                self._blocked.append(
                    ("blocked_stale_feed", {"intent": repr(intent)}, intent.symbol)
                )
        return kept
