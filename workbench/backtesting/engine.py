"""The event-driven backtester: bars one by one, as they would have arrived.

At each time step, for every symbol with a bar at that time, the simulated broker
matches pending orders against the bar (fill rules: :mod:`workbench.sim.fills`) and
books the fills (symbols with a working sell first, so a rebalance's buys see the
cash its sells raise), and the portfolio is marked at the bar's close (equity recorded); then
the bar kernel (:mod:`workbench.kernel`, the same per-bar step the live runner uses)
reveals the bars, runs the risk engine's bar update, ``strategy.on_bar``, the risk check
and plans the orders, which are sent at once and can fill from the *next* bar on.
After a halt the strategy is still called on every bar, but nothing it asks passes.

A decision on bar t's close therefore fills at bar t+1's open at the earliest.
"""

from __future__ import annotations

import gc
import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from workbench.backtesting.result import BacktestResult
from workbench.context import Context
from workbench.data.bars import as_bars, check_tradable, epoch_ns
from workbench.errors import ConfigError
from workbench.execution.config import ExecutionConfig
from workbench.execution.engine import ExecutionEngine, Step
from workbench.kernel import BarKernel
from workbench.orders import Order
from workbench.portfolio import PositionView
from workbench.risk import RiskConfig, RiskEngine, events_frame
from workbench.series import FIELDS, SymbolData
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage
from workbench.stamps import utc
from workbench.strategy import Strategy

#: Show a progress bar for runs longer than this many bars.
PROGRESS_MIN_BARS = 200_000


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Money and venue settings of one backtest."""

    cash: float = 100_000.0
    commission: Commission = field(default_factory=Commission)
    slippage: Slippage = field(default_factory=Slippage)
    volume_limit: float | None = None
    lot_size: float | None = None
    margin: float = 1.0
    periods_per_year: float | None = None
    #: The exchange calendar whose sessions DAY orders are good for (None: UTC days).
    calendar: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.cash, int | float) and math.isfinite(self.cash) and self.cash > 0):
            raise ConfigError(f"cash must be a positive number, got {self.cash!r}")
        if self.volume_limit is not None and not 0 < self.volume_limit <= 1:
            raise ConfigError(
                f"volume_limit must be in (0, 1], got {self.volume_limit}",
                hint="it is the largest share of a bar's volume one order may take",
            )


class Engine:
    """Runs one strategy over bars of one or more symbols with a simulated broker."""

    def __init__(
        self,
        strategy: Strategy,
        bars: Mapping[str, pd.DataFrame],
        config: BacktestConfig | None = None,
        *,
        risk: RiskEngine | RiskConfig | Mapping[str, Any] | str | Path | None = None,
        progress: bool | None = None,
        execution: ExecutionConfig | None = None,
    ) -> None:
        """``execution``: the run spec's execution policy (default: cancel and replace,
        the config's lot size)."""
        if not bars:
            raise ConfigError("no bars to backtest")
        self.strategy = strategy
        self.config = config or BacktestConfig()
        self.bars = {s: as_bars(f, name=s) for s, f in bars.items()}
        for sym, frame in self.bars.items():
            if frame.empty:
                raise ConfigError(f"{sym}: no bars in the chosen range")
            check_tradable(frame, name=sym)
        if risk is None or isinstance(risk, RiskEngine):
            self.risk = risk
        else:  # a fresh engine (in-memory state) for this run, named as execution names it
            self.risk = RiskEngine(RiskConfig.coerce(risk), strategy=strategy.label())
        self.progress = progress
        cfg = self.config
        self.broker = SimulatedBroker(
            cfg.cash,
            commission=cfg.commission,
            slippage=cfg.slippage,
            volume_limit=cfg.volume_limit,
            lot_size=cfg.lot_size,
            margin=cfg.margin,
            calendar=cfg.calendar,
        )
        self.execution = ExecutionEngine(
            self.broker, strategy.label(), execution or ExecutionConfig(lot_size=cfg.lot_size)
        )

    # -- context callbacks (read-only views) ----------------------------------
    def _cash_equity(self) -> tuple[float, float]:
        pf = self.broker.portfolio
        return pf.cash, pf.equity

    def _position(self, symbol: str) -> PositionView:
        return self.broker.portfolio.view(symbol)

    def _open_orders(self, symbol: str | None) -> list[Order]:
        orders = self.broker.get_open_orders()
        return orders if symbol is None else [o for o in orders if o.symbol == symbol]

    # -- the loop ------------------------------------------------------------------
    def run(self) -> BacktestResult:
        symbols = list(self.bars)
        times_by_symbol = {s: epoch_ns(self.bars[s].index) for s in symbols}
        data = {
            s: SymbolData(
                s, {f: self.bars[s][f].to_numpy(dtype=float) for f in FIELDS}, times_by_symbol[s]
            )
            for s in symbols
        }
        ctx = Context(data, self._cash_equity, self._position, self._open_orders)
        portfolio = self.broker.portfolio
        kernel = BarKernel(
            self.strategy, ctx, data, self.broker, self.execution, risk=self.risk,
            position=portfolio.quantity, equity=lambda: portfolio.equity,
        )  # fmt: skip
        kernel.init()

        if len(symbols) == 1:
            times = times_by_symbol[symbols[0]]
        else:
            times = np.unique(np.concatenate(list(times_by_symbol.values())))
        n = len(times)
        steps: Any = range(n)
        show = self.progress if self.progress is not None else n >= PROGRESS_MIN_BARS
        if show:
            steps = tqdm(
                steps, desc=f"backtest {self.strategy.label()}", unit="bar", mininterval=0.5
            )
        # the result's frames are built with the collector paused too: else their many
        # short-lived objects start collections that go over every object the loop left
        with _collector_paused():
            if len(symbols) == 1:
                sd = data[symbols[0]]
                equity, cash, held = self._loop_single(kernel, sd, sd.times, steps)
            else:
                rows_at = _rows_by_time(times, times_by_symbol)
                equity, cash, held = self._loop_many(kernel, times.tolist(), rows_at, steps)
            return self._result(times, equity, cash, held)

    def _result(self, times: np.ndarray, equity: Any, cash: Any, held: Any) -> BacktestResult:
        """The run's result from the loop's per-bar equity, cash and bars in the market."""
        symbols = list(self.bars)
        index = self.bars[symbols[0]].index
        if len(symbols) > 1 or index.unit != "ns":
            index = pd.DatetimeIndex(times.astype("datetime64[ns]")).tz_localize("UTC")
        equity_s = pd.Series(np.frombuffer(equity), index=index, name="equity", copy=False)
        cash_s = pd.Series(np.frombuffer(cash), index=index, name="cash", copy=False)
        held_s = pd.Series(np.frombuffer(held, bool), index=index, name="in_market", copy=False)
        return BacktestResult.build(
            strategy=self.strategy,
            bars=self.bars,
            config=self.config,
            broker=self.broker,
            equity=equity_s,
            cash=cash_s,
            in_market=held_s,
            risk_events=None if self.risk is None else events_frame(self.risk.events),
        )

    def _loop_single(
        self, kernel: BarKernel, sd: SymbolData, times: Sequence[int], steps: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One symbol: the same steps as :meth:`_loop_many`, with the lookups hoisted.

        A bar without working orders costs the mark (cash + quantity x close) and one
        :meth:`~workbench.kernel.BarKernel.step_row`; timestamps are built only for bars
        that fill or decide something. Cash and the quantity change only by a fill, so
        they are read again only after a bar's fills or a send, and the recorded equity,
        cash and bars in the market are built after the loop from where they changed
        (:func:`_marked`, the same arithmetic as the mark's).
        """
        sym = sd.symbol
        o_, h_, l_, c_, v_ = (sd.cols[f] for f in FIELDS)
        broker = self.broker
        has_open = broker.open_book.get
        portfolio = broker.portfolio
        positions = portfolio.positions
        pos = positions.get(sym)  # looked up again only where it can appear: a fill, a send
        step = kernel.step_row
        cash = portfolio.cash
        q = pos.quantity if pos is not None else 0.0
        changes = [(0, cash, q)]  # (from bar, cash, quantity)
        # orders enter and leave the book only by a send or a bar's processing: looked at then
        working = has_open(sym)
        for k, time_ns, close in zip(steps, times, c_, strict=True):  # iterated: C-level reads
            if working:
                broker.process_bar(sym, utc(time_ns), o_[k], h_[k], l_[k], close, v_[k])
                self._follow_updates()
                working = has_open(sym)
                pos = positions.get(sym)
                cash = portfolio.cash
                q = pos.quantity if pos is not None else 0.0
                changes.append((k, cash, q))
            eq = cash
            if pos is not None:
                pos.last_price = close
                if q != 0.0:
                    eq += q * close
            if plan := step(eq, sd, k, time_ns):
                self._send(plan, kernel.ctx.time)
                working = has_open(sym)
                pos = positions.get(sym)
                cash = portfolio.cash
                q = pos.quantity if pos is not None else 0.0
                changes.append((k + 1, cash, q))
        return _marked(changes, np.asarray(c_))

    def _loop_many(
        self,
        kernel: BarKernel,
        times: list[int],
        rows_at: list[list[tuple[str, int]]],
        steps: Any,
    ) -> tuple[array, array, bytearray]:
        """Several symbols: each bar's fills, marks and decision, in the merged time order.

        A bar is in the market when any position is not zero (read again only after a
        fill): their summed value cannot say it, as a long and a short of equal value
        net to zero."""
        broker = self.broker
        portfolio = broker.portfolio
        positions = portfolio.positions
        fills = broker.fills
        data = kernel.data
        n = len(times)
        equity_out, cash_out, held_out = _zeros(n), _zeros(n), bytearray(n)
        equity, cash = memoryview(equity_out), memoryview(cash_out)
        seen, held = 0, False  # the fills booked when the positions were last read
        for k in steps:
            for sym, i in broker.sells_first(rows_at[k]):
                c = data[sym].cols
                if broker.has_open_orders(sym):
                    broker.process_bar(
                        sym,
                        utc(times[k]),
                        c["open"][i],
                        c["high"][i],
                        c["low"][i],
                        c["close"][i],
                        c["volume"][i],
                    )
                    self._follow_updates()
                pos = portfolio.positions.get(sym)
                if pos is not None:
                    pos.last_price = c["close"][i]
                kernel.reveal_row(sym, i)
            cash[k] = portfolio.cash
            equity[k] = eq = portfolio.equity
            if len(fills) != seen:
                seen = len(fills)
                held = any(p.quantity != 0.0 for p in positions.values())
            held_out[k] = held
            kernel.advance(times[k])
            plan = kernel.decide(eq)
            if plan:
                self._send(plan, kernel.ctx.time)
        return equity_out, cash_out, held_out

    def _follow_updates(self) -> None:
        """Let the execution engine follow fills and cancels (its per-symbol state, waits)."""
        for update in self.broker.drain_updates():
            self.execution.on_update(update)

    def _send(self, plan: list[Step], decision: pd.Timestamp) -> None:
        """The kernel's plan, sent at once through the execution engine (as live sends it)."""
        self.broker.set_time(decision)
        self.execution.send(plan, decision=decision)


def _zeros(n: int) -> array:
    """``n`` float64 zeros, set item by item from Python floats through a ``memoryview``
    (cheaper than numpy's scalar assignment, and than the array's own, which parses its
    argument); ``np.frombuffer`` reads them without a copy. Made by repeating one zero: no
    temporary of their size."""
    return array("d", [0.0]) * n


def _marked(
    changes: list[tuple[int, float, float]], close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The equity and cash series of a one-symbol run from the bars where cash or the
    quantity changed: ``cash + quantity x close`` (just ``cash`` while flat), the mark's
    own float operations, so every value is the one the loop computed; and the bars in
    the market (a quantity not zero)."""
    start = np.fromiter((c[0] for c in changes), dtype=np.int64, count=len(changes))
    runs = np.diff(start, append=len(close))
    cash = np.repeat(np.fromiter((c[1] for c in changes), float, len(changes)), runs)
    held = np.fromiter((c[2] for c in changes), float, len(changes))
    equity = np.repeat(held, runs)
    equity *= close
    equity += cash
    flat = np.repeat(held == 0.0, runs)
    np.copyto(equity, cash, where=flat)
    return equity, cash, ~flat


def _rows_by_time(
    times: np.ndarray, times_by_symbol: dict[str, np.ndarray]
) -> list[list[tuple[str, int]]]:
    """For each merged time step, the (symbol, row) pairs that have a bar then."""
    out: list[list[tuple[str, int]]] = [[] for _ in range(len(times))]
    for sym, ts in times_by_symbol.items():
        for row, k in enumerate(np.searchsorted(times, ts).tolist()):
            out[k].append((sym, row))
    return out


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the bar loop.

    The loop allocates short-lived objects by the million, all freed by reference
    counting; the collector's passes over them cost up to half of a long run (measured
    in ``benchmarks/engine.py``). It is restored afterwards, and stays off for a caller
    that had turned it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
