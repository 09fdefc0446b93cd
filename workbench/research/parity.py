"""Does the vectorized form of a strategy agree with its ``on_bar``? Run both and compare.

The event-driven backtest is the truth. :func:`check_parity` runs it and the vectorized
run (vectorbt by default, or workbench's numba kernel) on the same strategy, parameters,
bars and costs, then compares trade by trade: the same number of trades, and for each
the same direction, status, entry and exit times, entry and exit prices (relative
``price_rtol``) and quantity; the final equity within ``rtol`` relative and the equity
curves bar by bar within the same tolerance. The report lists the first differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import StrategyError
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import Strategy

__all__ = ["ParityReport", "check_parity", "compare_runs"]

#: Differences listed in a report at most.
MAX_LISTED = 10


@dataclass
class ParityReport:
    """The outcome of a parity check; true when the runs agree."""

    ok: bool
    strategy: str
    params: dict[str, Any]
    engine: str
    event_trades: int
    vector_trades: int
    event_final_equity: float
    vector_final_equity: float
    final_equity_rel_diff: float
    max_equity_rel_diff: float
    max_price_rel_diff: float
    differences: list[str] = field(default_factory=list)
    event: Any = field(default=None, repr=False)  # BacktestResult
    vector: Any = field(default=None, repr=False)  # VectorizedResult

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        verdict = "parity OK" if self.ok else "PARITY FAILED"
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = [
            f"{verdict}: {self.strategy} ({params}), event engine vs {self.engine}",
            f"  trades        {self.event_trades} vs {self.vector_trades}",
            f"  final equity  {self.event_final_equity:,.6f} vs {self.vector_final_equity:,.6f}"
            f" (relative difference {self.final_equity_rel_diff:.1e})",
            f"  largest relative difference: equity {self.max_equity_rel_diff:.1e}, "
            f"prices {self.max_price_rel_diff:.1e}",
        ]
        lines += [f"  - {d}" for d in self.differences]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "ok",
            "strategy",
            "params",
            "engine",
            "event_trades",
            "vector_trades",
            "event_final_equity",
            "vector_final_equity",
            "final_equity_rel_diff",
            "max_equity_rel_diff",
            "max_price_rel_diff",
            "differences",
        )
        return {k: getattr(self, k) for k in keys}

    def raise_if_failed(self) -> None:
        """Raise :class:`StrategyError` naming the first difference, when the runs disagree."""
        if not self.ok:
            first = self.differences[0] if self.differences else "results differ"
            raise StrategyError(
                f"{self.strategy}: the vectorized form disagrees with on_bar: {first}",
                hint="fix vectorized() (it must take the decisions on_bar takes, causally)",
            )


def check_parity(
    strategy: str | type[Strategy] | Strategy,
    bars: Any,
    params: Mapping[str, Any] | None = None,
    *,
    cash: float = 100_000.0,
    commission: Commission | float | str | None = None,
    slippage: Slippage | float | str | None = None,
    start: Any = None,
    end: Any = None,
    engine: str | None = None,
    rtol: float = 1e-6,
    price_rtol: float = 1e-9,
) -> ParityReport:
    """Run ``strategy`` event-driven and vectorized on the same inputs and compare them.

    ``engine`` is the vectorized run: ``"vectorbt"`` or ``"numba"``; by default vectorbt,
    and the numba kernel for signals with stops, whose fill rules vectorbt's differ from
    on some bars (it checks stops from the bar after the entry: see
    :mod:`workbench.backtesting.vectorbt_adapter`). Over a universe (several symbols, or
    a strategy with only ``target_weights``) the vectorized run is the portfolio kernel
    (:mod:`workbench.backtesting.portfolio_nb`).
    """
    from workbench.backtesting.api import backtest, load_universe
    from workbench.backtesting.fastpath import prepare_bars, run_vectorized
    from workbench.backtesting.vectorized import vectorized_signals
    from workbench.research.portfolio_sweep import is_universe_sweep, run_portfolio_vectorized
    from workbench.strategy import make_strategy

    instance = make_strategy(strategy, params)
    values = dict(instance.p)
    universe = load_universe(bars, start, end)
    if is_universe_sweep(type(instance), universe):
        portfolio = run_portfolio_vectorized(
            instance, universe, cash=cash, commission=commission, slippage=slippage
        )
        result = backtest(
            type(instance),
            universe,
            values,
            cash=cash,
            commission=commission,
            slippage=slippage,
            progress=False,
        )
        return compare_runs(result, portfolio, rtol=rtol, price_rtol=price_rtol)
    symbol, frame = prepare_bars(universe)
    if engine is None:
        stops = vectorized_signals(instance, frame).has_stops
        engine = "numba" if stops else "vectorbt"
    vector = run_vectorized(
        type(instance),
        frame,
        values,
        cash=cash,
        commission=commission,
        slippage=slippage,
        engine=engine,
    )
    event = backtest(
        type(instance),
        {symbol: frame},
        values,
        cash=cash,
        commission=commission,
        slippage=slippage,
        progress=False,
    )
    return compare_runs(event, vector, rtol=rtol, price_rtol=price_rtol)


def compare_runs(
    event: Any, vector: Any, *, rtol: float = 1e-6, price_rtol: float = 1e-9
) -> ParityReport:
    """Compare a BacktestResult with a VectorizedResult (see the module docstring)."""
    differences: list[str] = []
    a = event.trades.reset_index(drop=True)
    b = vector.trades.reset_index(drop=True)
    if len(a) != len(b):
        differences.append(f"{len(a)} trades event-driven, {len(b)} vectorized")
    n = min(len(a), len(b))
    head_a, head_b = a.iloc[:n], b.iloc[:n]
    for key in ("direction", "status", "entry_time", "exit_time"):
        va, vb = head_a[key], head_b[key]
        same = ((va == vb) | (va.isna() & vb.isna())).to_numpy()
        for k in np.flatnonzero(~same)[:MAX_LISTED].tolist():
            differences.append(f"trade {k + 1}: {key} {_show(va.iloc[k])} vs {_show(vb.iloc[k])}")
    price_diff = 0.0
    for key in ("entry_price", "exit_price", "quantity"):
        va = head_a[key].to_numpy(dtype=float)
        vb = head_b[key].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            rel = np.abs(va - vb) / np.maximum(np.maximum(np.abs(va), np.abs(vb)), 1e-12)
        rel[np.isnan(va) & np.isnan(vb)] = 0.0
        rel[np.isnan(rel)] = np.inf
        if rel.size:
            price_diff = max(price_diff, float(rel.max()))
        for k in np.flatnonzero(~(rel <= price_rtol))[:MAX_LISTED].tolist():
            differences.append(
                f"trade {k + 1} ({_show(head_a['entry_time'].iloc[k])}): {key} "
                f"{va[k]:.10g} vs {vb[k]:.10g}"
            )
    ea = event.equity.to_numpy(dtype=float)
    eb = vector.equity.to_numpy(dtype=float)
    if len(ea) != len(eb) or not event.equity.index.equals(vector.equity.index):
        differences.append("the equity curves are on different bars")
        curve_diff = math.inf
    else:
        scale = np.maximum(np.abs(ea), 1e-12)
        rel = np.abs(ea - eb) / scale
        curve_diff = float(rel.max()) if rel.size else 0.0
        if not curve_diff <= rtol:
            worst = int(np.argmax(rel))
            when = _show(event.equity.index[worst])
            differences.append(f"equity at {when}: {ea[worst]:,.6f} vs {eb[worst]:,.6f}")
    final_diff = _rel(event.final_equity, vector.final_equity)
    if not final_diff <= rtol:
        differences.append(
            f"final equity {event.final_equity:,.6f} vs {vector.final_equity:,.6f} "
            f"(relative difference {final_diff:.1e} > {rtol:g})"
        )
    return ParityReport(
        ok=not differences,
        strategy=event.strategy,
        params=dict(event.params),
        engine=vector.engine,
        event_trades=len(a),
        vector_trades=len(b),
        event_final_equity=event.final_equity,
        vector_final_equity=vector.final_equity,
        final_equity_rel_diff=final_diff,
        max_equity_rel_diff=curve_diff,
        max_price_rel_diff=price_diff,
        differences=differences[:MAX_LISTED],
        event=event,
        vector=vector,
    )


def _rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def _show(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "none"
    return str(value)
