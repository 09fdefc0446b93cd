"""The notebook face of the engine: ``backtest(strategy, bars, params=..., ...)``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.result import BacktestResult
from workbench.data.bars import BarsLike, as_symbol_map
from workbench.risk import RiskConfig, RiskEngine
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import Strategy, make_strategy


def load_universe(
    data: str | BarsLike, start: Any = None, end: Any = None
) -> dict[str, pd.DataFrame]:
    """Bars for every symbol from a spec string, a frame or a dict, cut to ``[start, end]``."""
    if isinstance(data, str):
        from workbench.data.sources import load_symbols

        return load_symbols(data, start=start, end=end)
    bars = as_symbol_map(data)
    if start is None and end is None:
        return bars
    lo = _utc(start)
    hi = _utc(end)
    out = {}
    for sym, frame in bars.items():
        cut = frame.loc[lo:hi]
        cut.attrs = dict(frame.attrs)
        out[sym] = cut
    return out


def on_timeframe(
    universe: Mapping[str, pd.DataFrame],
    timeframe: Any,
    *,
    session: str = "regular",
    calendar: str = "XNYS",
    periods: float | None = None,
) -> tuple[dict[str, pd.DataFrame], float | None]:
    """The universe resampled on the session calendar, and its bars per year on the regular
    sessions (:func:`~workbench.data.sessions.bars_per_year`: 252 sessions a year, 365 on a
    calendar that trades every day, each counting the periods it touches)."""
    from workbench.data.sessions import bars_per_year, session_resample
    from workbench.timeframe import parse_timeframe

    tf = parse_timeframe(timeframe)
    out = {
        s: session_resample(f, tf, session=session, calendar=calendar) for s, f in universe.items()
    }
    if periods is None and session == "regular":
        start = min((f.index[0] for f in universe.values() if len(f)), default=None)
        periods = bars_per_year(tf, calendar, start)
    return out, periods


def _utc(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def backtest(
    strategy: str | type[Strategy] | Strategy,
    bars: str | BarsLike,
    params: Mapping[str, Any] | None = None,
    *,
    cash: float = 100_000.0,
    commission: Commission | float | str | None = None,
    slippage: Slippage | float | str | None = None,
    start: Any = None,
    end: Any = None,
    volume_limit: float | None = None,
    lot_size: float | None = None,
    margin: float = 1.0,
    periods_per_year: float | None = None,
    progress: bool | None = None,
    risk: RiskConfig | RiskEngine | Mapping[str, Any] | str | Path | None = None,
    timeframe: Any = None,
    session: str = "regular",
    calendar: str = "XNYS",
    benchmark: Any = None,
) -> BacktestResult:
    """Run ``strategy`` with ``params`` over ``bars``: a spec (``"sample:SPX"``), a frame or a dict.

    The arguments make a :class:`~workbench.runspec.RunSpec` (the one promotion records),
    and the run is built from it by :func:`workbench.compose.run_backtest`, as every run is.

    ``commission`` as a number is a fraction of traded notional (0.001 = 0.1%);
    ``slippage`` as a number is in basis points. See :mod:`workbench.sim.costs` for the rest.
    ``risk`` applies risk rules (:mod:`workbench.risk`): a :class:`~workbench.risk.RiskConfig`,
    a mapping or a path to a YAML/TOML file (a fresh in-memory state per run), or a
    :class:`~workbench.risk.RiskEngine` (its state carries over; its log lines name the
    strategy it was built with: ``RiskEngine(..., strategy=...)``, and it counts the days
    it was built with, ``days=``, else ``XNYS``'s; rules given otherwise count the days of
    ``calendar``: :mod:`workbench.data.days`). Its decisions are in
    ``result.risk_events``. ``timeframe`` (``1Day``, ``1Hour``, ...) first resamples the
    bars on the exchange's sessions (:func:`~workbench.data.sessions.session_resample`,
    the function the live feeds aggregate with), keeping only regular-session bars
    unless ``session="all"``. ``benchmark`` (``"universe"``: equal-weight buy-and-hold of
    the same symbols; or a spec such as ``"sample:SP500_INDEX"``) adds excess return,
    alpha, beta, tracking error and information ratio to the metrics
    (:mod:`workbench.backtesting.benchmark`) and its curve as ``result.benchmark``.
    """
    from workbench.compose import run_backtest
    from workbench.runspec import RunSpec

    instance = make_strategy(strategy, params)
    engine = risk if isinstance(risk, RiskEngine) else None
    spec = RunSpec(  # checked whole before any data is read
        symbols=(), timeframe=timeframe, session=session, calendar=calendar, cash=cash,
        commission=Commission.parse(commission), slippage=Slippage.parse(slippage),
        volume_limit=volume_limit, lot_size=lot_size, margin=margin,
        risk=RiskConfig() if risk is None or engine is not None else RiskConfig.coerce(risk),
    )  # fmt: skip
    universe = load_universe(bars, start, end)
    spec = spec.replace(symbols=tuple(universe))
    compare = benchmark is not None and benchmark is not False
    if compare:
        from workbench.backtesting.benchmark import attach_benchmark, load_benchmark

        # a bad one is refused before the run, not after it
        benchmark = load_benchmark(benchmark, universe, resampled=timeframe is not None)
    result = run_backtest(
        instance, universe, spec, risk=engine, periods_per_year=periods_per_year,
        progress=progress,
    )  # fmt: skip
    if compare:
        attach_benchmark(result, benchmark, result.bars)
    return result
