"""Performance metrics of an equity curve and its trades, with every formula written down.

Notation: ``E[0..N-1]`` is the marked equity at each bar's close, ``r[t] = E[t]/E[t-1] - 1``
(t = 1..N-1) the per-bar simple returns, ``P`` the periods per year (the annualisation
factor: by default :func:`workbench.data.bars.periods_per_year` of the index, 252 for daily
bars) and ``Y = (last time - first time) / 365.25 days`` the elapsed calendar years.

================================  ==============================================================
key                               formula
================================  ==============================================================
``start_equity``                  E[0]
``final_equity``                  E[N-1]
``total_return``                  E[N-1]/E[0] - 1
``cagr``                          (E[N-1]/E[0])**(1/Y) - 1; -1 if the equity ends at or below 0
``annual_volatility``             std(r, ddof=1) * sqrt(P)
``sharpe``                        mean(r - rf) / std(r - rf, ddof=1) * sqrt(P), where the
                                  per-bar risk-free rate is rf = (1 + risk_free)**(1/P) - 1
``sortino``                       mean(r - rf) / DD * sqrt(P), with the downside deviation
                                  DD = sqrt(mean(min(r - rf, 0)**2)) over all N-1 returns
``max_drawdown``                  min over t of E[t]/max(E[0..t]) - 1: a fraction <= 0 (-0.25)
``max_drawdown_duration_bars``    longest span from a peak to the first bar back at or above
                                  it (or to the last bar if never), in bars
``max_drawdown_duration_days``    the same in calendar days (the longest such span in days)
``calmar``                        cagr / abs(max_drawdown)
``number_of_trades``              closed trades given
``win_rate``                      share of trades with pnl > 0
``profit_factor``                 sum of positive pnl / abs(sum of negative pnl); inf with wins
                                  and no losses
``average_trade``                 mean pnl (pnl is net of fees)
``average_trade_return``          mean of pnl / (entry_price * abs(quantity))
``exposure``                      share of bars with a non-zero position (from ``exposure=``)
``turnover``                      traded notional / mean(E) * P / N: times the average equity
                                  traded per year (from ``turnover_notional=``)
================================  ==============================================================

Every value is a float. Undefined is NaN, not an exception: ratios with a zero
denominator (a flat curve has no volatility, so no Sharpe), trade statistics without
trades, exposure and turnover when their inputs are not given. The only exception to
"zero denominator is NaN" is ``profit_factor``, which is inf for only winning trades.
Malformed input (no bars, NaN equity, naive timestamps) raises DataError.

Conventions where the established tools differ, and which one is used here:

- ``cagr`` compounds over the elapsed calendar time ``Y`` (quantstats), not over the bar
  count ``(N-1)/P`` (empyrical, vectorbt): a run's growth per calendar year whatever its
  bars, so it does not depend on ``P`` (252 or 365 days, 6.5 or 24 hours a day).
- Sharpe, Sortino and volatility use the per-bar returns annualised by ``sqrt(P)``
  (empyrical, vectorbt), not returns resampled to days first (pyfolio, LEAN). The first
  bar has no return: ``E[0]`` is the starting equity, so there are N-1 returns
  (vectorbt's ``Portfolio.returns()`` adds a zero return of bar 0 against its initial
  cash, which moves its Sharpe ratio slightly).
- The drawdown duration runs from the peak bar to the recovery bar (backtesting.py's
  "Max. Drawdown Duration"); vectorbt's ``Drawdowns.duration`` starts at the first bar
  below the peak, one bar less (SPX sample, MA 20/100: 2462 here, 2461 there).
- The Sortino downside deviation is taken over all N-1 returns, those above the target
  counting as 0, with the target ``rf`` (empyrical's and vectorbt's ``downside_risk``,
  quantstats' ``sortino``); not over the losing returns alone. With no return below the
  target it is NaN here (empyrical and vectorbt report inf).
- The trade statistics are over the closed trades given (a trade still open at the end
  is not counted; the results report those as ``open_trades``). ``win_rate`` and
  ``profit_factor`` are vectorbt's (a zero pnl is neither a win nor a loss).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.bars import periods_per_year as _bars_per_year
from workbench.errors import ConfigError, DataError

__all__ = [
    "METRICS",
    "TRADE_METRIC_COLUMNS",
    "compute_metrics",
    "drawdown",
    "format_metric",
    "metric_definitions",
    "style_metrics",
]

METRICS: tuple[str, ...] = (
    "start_equity",
    "final_equity",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "max_drawdown_duration_days",
    "calmar",
    "number_of_trades",
    "win_rate",
    "profit_factor",
    "average_trade",
    "average_trade_return",
    "exposure",
    "turnover",
)
"""The keys of :func:`compute_metrics`, in the order it returns them."""

#: The columns of the trades that :func:`compute_metrics` reads.
TRADE_METRIC_COLUMNS = ("pnl", "entry_price", "quantity")
_NAN = math.nan
#: Metrics shown as percentages, money amounts, and whole counts.
PERCENT_METRICS = frozenset(
    {"total_return", "cagr", "annual_volatility", "max_drawdown", "win_rate", "exposure",
     "average_trade_return", "excess_return", "benchmark_return", "alpha", "tracking_error"}
)  # fmt: skip
MONEY_METRICS = frozenset({"start_equity", "final_equity", "average_trade", "fees"})
COUNT_METRICS = frozenset(
    {"number_of_trades", "open_trades", "max_drawdown_duration_bars", "max_drawdown_duration_days"}
)


def format_metric(key: str, value: float | None) -> str:
    """A metric as people read it: 12.34%, 101,234.56, 8, 0.812; n/a when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if key in PERCENT_METRICS:
        return f"{value:.2%}"
    if key in MONEY_METRICS:
        return f"{value:,.2f}"
    if key in COUNT_METRICS:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def style_metrics(frame: pd.DataFrame) -> Any:
    """A table with one metric per row (index: metric keys), each row formatted as people
    read it (:func:`format_metric`); other rows as whole numbers. A pandas Styler."""
    styler = frame.style
    for key in frame.index:
        if key in METRICS or key in MONEY_METRICS or key in COUNT_METRICS:
            styler = styler.format(
                lambda v, k=key: format_metric(k, v), subset=pd.IndexSlice[[key], :]
            )
        else:
            styler = styler.format("{:,.0f}", subset=pd.IndexSlice[[key], :], na_rep="n/a")
    return styler


def metric_definitions() -> dict[str, str]:
    """Each metric's formula, read from the docstring tables that define them (the one written
    copy): this module's, and the benchmark-relative figures' (:mod:`.benchmark`)."""
    from workbench.backtesting import benchmark

    out = {k: v for k, v in docstring_table(__doc__).items() if k in METRICS}
    out.update(docstring_table(benchmark.__doc__))
    return out


def docstring_table(doc: str | None) -> dict[str, str]:
    """``{key: text}`` from a reST simple table whose rows start with ````key````."""
    lines = (doc or "").splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=====")]
    out: dict[str, str] = {}
    key = None
    for line in lines[rules[0] + 1 : rules[-1]] if len(rules) >= 2 else []:
        if line.startswith("``"):
            key, _, text = line[2:].partition("``")
            out[key] = text.strip().replace("``", "")
        elif key is not None and line.strip() and not line.startswith("="):
            out[key] += " " + line.strip().replace("``", "")
    return out


def drawdown(equity: pd.Series) -> pd.Series:
    """The fraction below the running peak at each bar (0 at a new high, -0.1 ten percent below)."""
    peak = equity.cummax()
    return (equity / peak - 1.0).rename("drawdown")


@np.errstate(all="ignore")  # equity at or below zero gives inf/NaN returns: reported, not warned
def compute_metrics(
    equity: pd.Series,
    trades: pd.DataFrame | None = None,
    *,
    periods_per_year: float | None = None,
    risk_free: float = 0.0,
    exposure: pd.Series | None = None,
    turnover_notional: float | None = None,
    scratch: np.ndarray | None = None,
) -> dict[str, float]:
    """The metrics of the module docstring, keyed as in :data:`METRICS`.

    ``equity`` is the marked equity at each bar's close on a tz-aware index; ``trades``
    the closed trades, with at least ``pnl``, ``entry_price`` and ``quantity`` columns;
    ``risk_free`` an annual rate; ``exposure`` a per-bar position (boolean, or any number
    where non-zero means "in the market"); ``turnover_notional`` the total traded value.
    ``scratch``: a float64 array of ``len(equity)`` values that the metrics may overwrite
    (a caller about to fill one anyway spares a fresh one: a backtest's market value).
    """
    values = _check_equity(equity)
    buffer = _scratch(scratch, values)
    ppy = _ppy(equity.index, periods_per_year)
    if isinstance(risk_free, bool) or not (
        isinstance(risk_free, Real) and -1 < risk_free < math.inf
    ):
        raise ConfigError(f"risk_free must be an annual rate above -1, got {risk_free!r}")
    n = values.size

    start, final = float(values[0]), float(values[-1])
    out: dict[str, float] = dict.fromkeys(METRICS, _NAN)
    out["start_equity"], out["final_equity"] = start, final
    out["total_return"] = final / start - 1.0 if start != 0 else _NAN
    years = (equity.index[-1] - equity.index[0]) / pd.Timedelta(days=365.25)
    if years > 0 and start > 0:
        growth = np.power(final / start, 1.0 / years) if final > 0 else 0.0
        out["cagr"] = float(growth) - 1.0

    # full-length temporaries are reused in place: a 1M-bar curve's metrics stay within a
    # few arrays of it (each step computes what the plain expression did, to the bit)
    # one curve-sized buffer holds the returns, then the drawdown: fresh memory costs a
    # page fault per 4 KiB (8 MB: 2 to 15 ms, where a pass over them costs 0.5), more
    # than the arithmetic
    returns = _returns(values, buffer[: n - 1])
    if returns.size >= 2:
        rf = (1.0 + risk_free) ** (1.0 / ppy) - 1.0
        std = _sample_std_in_place(returns)
        # the returns made again where their deviations were: two passes, where keeping
        # them (np.std) takes a fresh curve-sized array
        excess = _returns(values, returns)
        del returns
        if rf != 0.0:  # r - 0.0 is r to the bit: no pass for the usual zero rate
            excess -= rf
        mean = float(np.mean(excess))
        out["annual_volatility"] = std * math.sqrt(ppy)
        out["sharpe"] = _ratio(mean, std) * math.sqrt(ppy)
        np.minimum(excess, 0.0, out=excess)
        excess **= 2
        downside = math.sqrt(float(np.mean(excess)))
        out["sortino"] = _ratio(mean, downside) * math.sqrt(ppy)
        del excess

    relative = np.maximum.accumulate(values, out=buffer)
    under = values < relative  # the running peak once, for the drawdown and its spans
    np.divide(values, relative, out=relative)
    # min(x - 1) is min(x) - 1 to the bit (subtracting 1 keeps the order): a pass less
    out["max_drawdown"] = float(np.min(relative)) - 1.0
    del relative, buffer
    bars, days = _underwater_spans(values, equity.index, under)
    del under
    out["max_drawdown_duration_bars"], out["max_drawdown_duration_days"] = bars, days
    if out["max_drawdown"] < 0:
        out["calmar"] = out["cagr"] / abs(out["max_drawdown"])

    out.update(_trade_stats(trades))
    if exposure is not None:
        held = pd.Series(exposure)
        if not len(held):
            out["exposure"] = _NAN
        elif held.dtype == bool:  # nothing missing: the share of True, counted
            out["exposure"] = np.count_nonzero(held.to_numpy()) / len(held)
        else:
            out["exposure"] = float((held.fillna(0) != 0).mean())
    if turnover_notional is not None:
        average = float(np.mean(values))
        if average > 0:
            out["turnover"] = float(turnover_notional) / average * ppy / n
    return out


def _check_equity(equity: pd.Series) -> np.ndarray:
    if not isinstance(equity, pd.Series) or not isinstance(equity.index, pd.DatetimeIndex):
        raise DataError(
            "equity must be a pandas Series on a DatetimeIndex",
            hint="e.g. the equity curve of a backtest result",
        )
    if equity.index.tz is None:
        raise DataError("equity has naive timestamps", hint="localize the index to UTC")
    if equity.empty:
        raise DataError("equity is empty", hint="metrics need at least one bar")
    if equity.dtype == np.float64:  # no copy (missing values already are NaN)
        values = equity.to_numpy()
    else:
        values = equity.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        raise DataError("equity has NaN or infinite values", hint="mark every bar to a price")
    if not equity.index.is_monotonic_increasing:
        raise DataError("equity index is not in time order", hint="sort it with sort_index()")
    return values


def _scratch(scratch: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """``scratch`` if it can hold the metrics' temporaries (``values.size`` float64
    values, contiguous, not the equity's own memory), else a fresh array."""
    if scratch is None:
        return np.empty(values.size)
    if not (
        isinstance(scratch, np.ndarray)
        and scratch.dtype == np.float64
        and scratch.shape == values.shape
        and scratch.flags.c_contiguous
        and scratch.flags.writeable
    ):
        raise ConfigError(
            "scratch must be a writeable, contiguous float64 array with one value per bar",
            hint="np.empty(len(equity)), or leave it out",
        )
    if np.may_share_memory(scratch, values):
        raise ConfigError(
            "scratch shares memory with the equity, which the metrics would overwrite",
            hint="pass an array of its own",
        )
    return scratch


def _returns(values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The per-bar simple returns ``values[1:] / values[:-1] - 1``, made in ``out``."""
    np.divide(values[1:], values[:-1], out=out)
    out -= 1.0
    return out


def _sample_std_in_place(x: np.ndarray) -> float:
    """``np.std(x, ddof=1)`` to the bit, made in ``x``'s own memory, which it overwrites:
    numpy's own steps (the mean of the pairwise sum, the squared deviations, their pairwise
    sum over ``size - 1``), where ``np.std`` puts the deviations in a fresh array."""
    count = np.intp(x.size)
    mean = np.add.reduce(x, keepdims=True)
    np.true_divide(mean, count, out=mean)
    np.subtract(x, mean, out=x)
    np.square(x, out=x)
    return float(np.sqrt(np.add.reduce(x) / (count - 1)))


def _ppy(index: pd.DatetimeIndex, given: float | None) -> float:
    if given is None:
        return _bars_per_year(index) if len(index) >= 2 else _NAN
    if isinstance(given, bool) or not (isinstance(given, Real) and 0 < given < math.inf):
        raise ConfigError(
            f"periods_per_year must be a positive number, got {given!r}",
            hint="252 for daily bars on an exchange calendar",
        )
    return float(given)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator/denominator, NaN when the denominator is zero up to rounding."""
    if not denominator > 1e-12 * abs(numerator):
        return _NAN
    return numerator / denominator


def _underwater_spans(
    values: np.ndarray, index: pd.DatetimeIndex, under: np.ndarray | None = None
) -> tuple[float, float]:
    """Longest (bars, days) from a peak until the equity is back at it, or until the end.

    ``under``: ``values`` below their running peak, when the caller has it already."""
    if under is None:
        under = values < np.maximum.accumulate(values)  # never the first bar
    if not under.any():
        return 0.0, 0.0
    # each underwater run starts after a bar at a high and ends at the recovery bar, or
    # at the last bar if the equity never got back (times grow, so the longest span of
    # a run is to its end)
    edges = np.diff(under.view(np.int8))
    del under
    starts = np.flatnonzero(edges == 1)  # the bar at a high before each run
    ends = np.flatnonzero(edges == -1) + 1  # the recovery bars
    del edges
    if ends.size < starts.size:
        ends = np.append(ends, values.size - 1)
    days = (index[ends] - index[starts]) / pd.Timedelta(days=1)
    return float(np.max(ends - starts)), float(np.max(days))


def _trade_stats(trades: pd.DataFrame | None) -> dict[str, float]:
    if trades is None:
        return {"number_of_trades": 0.0}
    missing = [c for c in TRADE_METRIC_COLUMNS if c not in trades.columns]
    if missing:
        raise DataError(
            f"trades: missing column(s) {', '.join(missing)}",
            hint=f"a trades frame needs at least {', '.join(TRADE_METRIC_COLUMNS)}",
        )
    pnl = trades["pnl"].to_numpy(dtype=np.float64, na_value=np.nan)
    out = {"number_of_trades": float(pnl.size)}
    if pnl.size == 0:
        return out
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    cost = trades["entry_price"].to_numpy(dtype=np.float64) * np.abs(
        trades["quantity"].to_numpy(dtype=np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        trade_returns = np.where(cost != 0, pnl / cost, np.nan)
    out["win_rate"] = float(np.mean(pnl > 0))
    if losses > 0:
        out["profit_factor"] = float(wins / losses)
    elif wins > 0:
        out["profit_factor"] = math.inf
    out["average_trade"] = float(np.mean(pnl))
    out["average_trade_return"] = float(np.mean(trade_returns))
    return out
