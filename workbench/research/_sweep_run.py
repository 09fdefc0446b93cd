"""The two ways :func:`workbench.research.sweep.sweep` runs its combinations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.column_metrics import COLUMN_METRICS, metrics_from_stats
from workbench.backtesting.nb import N_STATS, sweep_signals_nb
from workbench.backtesting.vectorized import (
    VectorCosts,
    encode_signals,
    shared_indicators,
    vectorized_signals,
)
from workbench.logs import bulk_runs
from workbench.progress import progress as progress_bar
from workbench.strategy import Strategy


def run_vectorized_sweep(
    cls: type[Strategy],
    frame: pd.DataFrame,
    combos: list[dict[str, Any]],
    *,
    cash: float,
    costs: VectorCosts,
    keep_returns: bool,
    risk_free: float,
    ppy: float,
    progress: bool,
    chunk_bytes: int,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(metrics per combination, float32 returns or None): one kernel call per chunk."""
    n_bars, n_cols = len(frame), len(combos)
    open_ = frame["open"].to_numpy(dtype=np.float64)
    high = frame["high"].to_numpy(dtype=np.float64)
    low = frame["low"].to_numpy(dtype=np.float64)
    close = frame["close"].to_numpy(dtype=np.float64)
    times = frame.index.as_unit("ns").asi8
    rf = (1.0 + risk_free) ** (1.0 / ppy) - 1.0
    if keep_returns:
        returns = np.empty((n_bars - 1, n_cols), dtype=np.float32, order="F")
    else:
        returns = np.empty((0, 0), dtype=np.float32)
    stats = np.empty((n_cols, N_STATS))
    fractions = np.empty(n_cols)
    stops = np.zeros((n_cols, 3))  # stop-loss %, take-profit %, trailing
    width = max(1, min(n_cols, chunk_bytes // max(n_bars, 1)))
    bar = progress_bar(total=n_cols, desc=f"sweep {cls.label()}", unit="combo", show=progress)
    buffer = np.empty((n_bars, width), dtype=np.uint8, order="F")  # one, reused by every chunk
    with bar, shared_indicators():
        for lo in range(0, n_cols, width):
            hi = min(n_cols, lo + width)
            codes = buffer[:, : hi - lo]
            for j in range(lo, hi):
                signals = vectorized_signals(cls(**combos[j]), frame)
                encode_signals(signals, out=codes[:, j - lo])
                fractions[j] = signals.fraction
                stops[j] = signals.stop_percents()
                bar.update(1)
            out = returns[:, lo:hi] if keep_returns else returns
            stats[lo:hi] = sweep_signals_nb(
                open_,
                high,
                low,
                close,
                times,
                codes,
                fractions[lo:hi],
                stops[lo:hi],
                float(cash),
                costs.fee,
                costs.bps,
                1.0,
                rf,
                out,
                keep_returns,
            )
    metrics = metrics_from_stats(stats, frame.index, periods_per_year=ppy, risk_free=risk_free)
    if not keep_returns:
        return metrics, None
    columns = pd.RangeIndex(n_cols, name="trial")
    return metrics, pd.DataFrame(returns, index=frame.index[1:], columns=columns, copy=False)


def run_event_sweep(
    cls: type[Strategy],
    symbol: str,
    frame: pd.DataFrame,
    combos: list[dict[str, Any]],
    *,
    cash: float,
    commission: Any,
    slippage: Any,
    keep_returns: bool,
    ppy: float,
    risk_free: float,
    progress: bool,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The same outputs from one event-driven backtest per combination."""
    rows: list[dict[str, float]] = []
    returns = np.empty((len(frame) - 1, len(combos)), dtype=np.float32) if keep_returns else None
    for j, values in enumerate(
        progress_bar(
            combos, desc=f"sweep {cls.label()} (event engine)", unit="combo", show=progress
        )
    ):
        equity, row = event_row(
            cls, {symbol: frame}, values, cash, commission, slippage, ppy, risk_free
        )
        rows.append(row)
        if returns is not None:
            returns[:, j] = equity[1:] / equity[:-1] - 1.0
    metrics = pd.DataFrame(rows, columns=list(COLUMN_METRICS))
    if returns is None:
        return metrics, None
    columns = pd.RangeIndex(len(combos), name="trial")
    return metrics, pd.DataFrame(returns, index=frame.index[1:], columns=columns, copy=False)


@bulk_runs()  # one of a sweep's many backtests: its orders are results, not news
def event_row(
    cls: type[Strategy],
    bars: dict[str, pd.DataFrame],
    values: dict[str, Any],
    cash: float,
    commission: Any,
    slippage: Any,
    ppy: float,
    risk_free: float,
) -> tuple[np.ndarray, dict[str, float]]:
    """One event-driven backtest as a sweep row: (equity curve, COLUMN_METRICS values)."""
    from workbench.backtesting.api import backtest
    from workbench.backtesting.fastpath import result_metrics

    result = backtest(
        cls,
        bars,
        values,
        cash=cash,
        commission=commission,
        slippage=slippage,
        periods_per_year=ppy,
        progress=False,
    )
    metrics = result_metrics(
        result.equity,
        result.trades,
        result.fills,
        ppy,
        in_market=result.in_market,
        risk_free=risk_free,
    )
    row = {k: float(metrics.get(k, np.nan)) for k in COLUMN_METRICS}
    row["rejected"] = float((result.orders["status"] == "rejected").sum())
    return result.equity.to_numpy(dtype=np.float64), row
