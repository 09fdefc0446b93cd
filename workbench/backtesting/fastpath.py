"""One vectorized backtest: a strategy's signals through the numba kernel or through vectorbt.

``run_vectorized`` is the quick answer (milliseconds on the samples) that sweeps and the
widgets build on; the event engine (:func:`workbench.backtesting.api.backtest`) stays the
truth, and :func:`workbench.research.parity.check_parity` holds the two together.
Conventions (timing, sizing, costs): :mod:`workbench.backtesting.vectorized`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.backtesting.metrics import compute_metrics
from workbench.backtesting.trades import build_trades
from workbench.backtesting.vectorized import (
    VectorCosts,
    VectorSignals,
    encode_signals,
    vector_costs,
    vectorized_signals,
)
from workbench.data.bars import BarsLike, check_tradable, periods_per_year
from workbench.errors import ConfigError
from workbench.orders import Fill, Side
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import Strategy, make_strategy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ENGINES", "VectorizedResult", "prepare_bars", "run_signals", "run_vectorized"]

ENGINES = ("numba", "vectorbt")
FILL_COLUMNS = ["time", "side", "quantity", "price", "commission"]
SUMMARY_KEYS = (
    "total_return",
    "cagr",
    "sharpe",
    "max_drawdown",
    "number_of_trades",
    "win_rate",
    "exposure",
    "fees",
    "final_equity",
)


@dataclass
class VectorizedResult:
    """The outcome of one vectorized run, in the event engine's formats."""

    strategy: str
    params: dict[str, Any]
    engine: str
    equity: pd.Series
    cash: pd.Series
    trades: pd.DataFrame
    fills: pd.DataFrame
    metrics: dict[str, float]
    signals: VectorSignals = field(repr=False)
    bars: pd.DataFrame = field(repr=False)
    rejected: int = 0
    portfolio: Any = field(default=None, repr=False)  # the vbt.Portfolio with engine="vectorbt"

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])

    def summary(self) -> str:
        """The main metrics, one per line."""
        lines = [f"{self.strategy} ({self.engine}; {_params_text(self.params)})"]
        for key in SUMMARY_KEYS:
            lines.append(f"  {key:<18} {_format(key, self.metrics.get(key, math.nan))}")
        return "\n".join(lines)

    def plot(self) -> list[Figure]:
        """Equity with drawdown, and price with trade markers."""
        from workbench.backtesting.plots import plot_equity, plot_trades

        title = f"{self.strategy} ({_params_text(self.params)})"
        return [
            plot_equity(self.equity, title=f"{title} equity"),
            plot_trades(self.bars, self.trades, title=title),
        ]


def prepare_bars(
    bars: str | BarsLike, start: Any = None, end: Any = None
) -> tuple[str, pd.DataFrame]:
    """(symbol, frame) of one symbol's bars, checked for the vectorized path."""
    from workbench.backtesting.api import load_universe
    from workbench.data.bars import as_bars

    universe = load_universe(bars, start, end)
    if len(universe) != 1:
        raise ConfigError(
            f"the vectorized path runs one symbol, got {len(universe)} ({', '.join(universe)})",
            hint="pass one symbol's bars, or use the event engine for a portfolio",
        )
    symbol, frame = next(iter(universe.items()))
    frame = as_bars(frame, name=symbol)
    if len(frame) < 2:
        raise ConfigError(f"{symbol}: {len(frame)} bar(s) in the chosen range, need at least 2")
    check_tradable(frame, name=symbol)
    prices = frame[["open", "close"]].to_numpy()
    if not np.isfinite(prices).all():  # at or below zero: refused by check_tradable
        raise ConfigError(
            f"{symbol}: open and close must be finite and positive on every bar",
            hint="clean the data first (workbench.validate / workbench.clean)",
        )
    return symbol, frame


def run_vectorized(
    strategy: str | type[Strategy] | Strategy,
    bars: str | BarsLike,
    params: Mapping[str, Any] | None = None,
    *,
    cash: float = 100_000.0,
    commission: Commission | float | str | None = None,
    slippage: Slippage | float | str | None = None,
    start: Any = None,
    end: Any = None,
    engine: str = "numba",
    periods_per_year: float | None = None,
) -> VectorizedResult:
    """Run the vectorized form of ``strategy`` (same arguments as ``backtest``).

    ``engine="numba"`` uses workbench's kernel (fast, no vectorbt import);
    ``engine="vectorbt"`` runs the signals through ``vbt.Portfolio`` (the result keeps it
    in ``portfolio``).
    """
    instance = make_strategy(strategy, params)
    costs = vector_costs(commission, slippage)
    symbol, frame = prepare_bars(bars, start, end)
    signals = vectorized_signals(instance, frame)
    return run_signals(
        signals,
        frame,
        symbol=symbol,
        cash=cash,
        costs=costs,
        engine=engine,
        strategy=instance.label(),
        params=dict(instance.p),
        periods_per_year=periods_per_year,
    )


def run_signals(
    signals: VectorSignals,
    frame: pd.DataFrame,
    *,
    symbol: str,
    cash: float,
    costs: VectorCosts,
    engine: str = "numba",
    strategy: str = "signals",
    params: dict[str, Any] | None = None,
    periods_per_year: float | None = None,
) -> VectorizedResult:
    """Simulate ready-made signals over one symbol's bars."""
    if not (isinstance(cash, int | float) and math.isfinite(cash) and cash > 0):
        raise ConfigError(f"cash must be a positive number, got {cash!r}")
    index = frame.index
    portfolio = None
    if engine == "numba":
        from workbench.backtesting.nb import simulate_signals_nb

        equity, cash_arr, raw, rejected = simulate_signals_nb(
            frame["open"].to_numpy(dtype=np.float64),
            frame["high"].to_numpy(dtype=np.float64),
            frame["low"].to_numpy(dtype=np.float64),
            frame["close"].to_numpy(dtype=np.float64),
            encode_signals(signals),
            float(signals.fraction),
            float(cash),
            costs.fee,
            costs.bps,
            1.0,
            *signals.stop_percents(),
        )
        fills = _fills_from_kernel(raw, index, symbol)
        trades = build_trades(fills, {symbol: float(frame["close"].iloc[-1])}, index)
        fills_frame = pd.DataFrame(
            [(f.time, str(f.side), f.quantity, f.price, f.commission) for f in fills],
            columns=FILL_COLUMNS,
        )
        equity_s = pd.Series(equity, index=index, name="equity")
        cash_s = pd.Series(cash_arr, index=index, name="cash")
    elif engine == "vectorbt":
        from workbench.backtesting.vectorbt_adapter import (
            run_vectorbt,
            vectorbt_fills,
            vectorbt_trades,
        )

        portfolio = run_vectorbt(signals, frame, cash=float(cash), costs=costs)
        equity_s = portfolio.value().rename("equity")
        cash_s = portfolio.cash().rename("cash")
        fills_frame = vectorbt_fills(portfolio, index)
        trades = vectorbt_trades(portfolio, index, symbol)
        rejected = 0
    else:
        raise ConfigError(f"unknown engine {engine!r}", hint=f"one of {', '.join(ENGINES)}")
    # one symbol: its position's value is the whole market value, not zero while it is held
    in_market = (equity_s - cash_s).abs() > 1e-12
    metrics = result_metrics(equity_s, trades, fills_frame, periods_per_year, in_market=in_market)
    return VectorizedResult(
        strategy=strategy,
        params=dict(params or {}),
        engine=engine,
        equity=equity_s,
        cash=cash_s,
        trades=trades,
        fills=fills_frame,
        metrics=metrics,
        signals=signals,
        bars=frame,
        rejected=int(rejected),
        portfolio=portfolio,
    )


def result_metrics(
    equity: pd.Series,
    trades: pd.DataFrame,
    fills: pd.DataFrame,
    ppy: float | None = None,
    *,
    in_market: pd.Series | np.ndarray,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """The metrics of a run, computed as :class:`~workbench.backtesting.result.BacktestResult`.

    ``in_market``: the bars with a position (``exposure``), from the run's positions, not
    from its cash: a long and a short of equal value net to zero in ``equity - cash``."""
    ppy = ppy or (periods_per_year(equity.index) if len(equity) > 1 else 252.0)
    traded = float((fills["quantity"] * fills["price"]).sum()) if len(fills) else 0.0
    closed = trades[trades["status"] == "closed"]
    metrics = compute_metrics(
        equity,
        closed,
        periods_per_year=ppy,
        risk_free=risk_free,
        exposure=in_market,
        turnover_notional=traded,
    )
    metrics["fees"] = float(fills["commission"].sum()) if len(fills) else 0.0
    metrics["open_trades"] = float((trades["status"] == "open").sum())
    return metrics


def _fills_from_kernel(raw: np.ndarray, index: pd.DatetimeIndex, symbol: str) -> list[Fill]:
    fills: list[Fill] = []
    position = 0.0
    for k, (bar, signed, price, fee) in enumerate(raw.tolist()):
        side = Side.BUY if signed > 0 else Side.SELL
        opening = "long_entry" if signed > 0 else "short_entry"
        reason = opening if position == 0.0 else "exit"
        fills.append(
            Fill(f"vec-{k + 1}", symbol, side, abs(signed), price, fee, index[int(bar)], reason)
        )
        position += signed
        if abs(position) <= 1e-9:
            position = 0.0
    return fills


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _format(key: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if key in ("total_return", "cagr", "max_drawdown", "win_rate", "exposure"):
        return f"{value:.2%}"
    if key in ("final_equity", "fees"):
        return f"{value:,.2f}"
    if key == "number_of_trades":
        return f"{value:.0f}"
    return f"{value:.3f}"
