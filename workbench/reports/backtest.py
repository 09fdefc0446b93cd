"""The report of one backtest: ``result.report("report.html")`` and ``backtest --out DIR``.

Sections: the summary metrics, each with the formula it is computed by (from
:mod:`workbench.backtesting.metrics`); equity with drawdown (against buy and hold of a
single symbol); monthly returns; the rolling Sharpe ratio; exposure; prices with the
trades and the trade list; risk events; parameters; costs and settings; and the data's
fingerprint (SHA-256 of each symbol's bars, first and last bar), so a reader can tell
whether two reports were computed on the same data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.backtesting.metrics import METRICS, format_metric, metric_definitions
from workbench.data.bars import data_fingerprint
from workbench.reports.html import Section, escape, facts, figure, page, paragraph, table

if TYPE_CHECKING:
    from workbench.backtesting.result import BacktestResult

__all__ = ["backtest_report", "backtest_sections", "metrics_table", "write_backtest_report"]

#: The trade list shows at most this many rows (trades.csv has every one).
MAX_TRADE_ROWS = 500
_TRADE_SHOWN = (
    "symbol", "direction", "status", "entry_time", "entry_price", "exit_time", "exit_price",
    "quantity", "pnl", "return", "fees", "bars_held", "entry_reason", "exit_reason",
)  # fmt: skip
_EXTRA_METRICS = {
    "fees": "sum of the commissions of every fill",
    "open_trades": "trades still open at the last bar (marked at its close, not in the stats)",
    "psr": "probabilistic Sharpe ratio: the probability that the true Sharpe ratio is above 0, "
    "given the number of returns, their skew and kurtosis (Bailey and Lopez de Prado, 2012)",
}


def write_backtest_report(
    result: BacktestResult,
    path: str | Path,
    *,
    title: str | None = None,
    extra: Iterable[Section] = (),
) -> Path:
    """Write the report of ``result`` to ``path`` (its folder is created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(backtest_report(result, title=title, extra=extra), encoding="utf-8")
    return path


def backtest_report(
    result: BacktestResult, *, title: str | None = None, extra: Iterable[Section] = ()
) -> str:
    """The whole HTML page of ``result``; ``extra`` sections come right after the summary."""
    sections = backtest_sections(result)
    sections[1:1] = list(extra)
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    first, last = result.equity.index[0], result.equity.index[-1]
    subtitle = (
        f"{result.strategy} ({params}) on {', '.join(result.bars)}, "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d}, {len(result.equity):,} bars"
    )
    return page(
        title or f"Backtest: {result.strategy}", sections, subtitle=subtitle, kind="backtest"
    )


def backtest_sections(result: BacktestResult) -> list[Section]:
    from workbench.backtesting.plots import plot_equity, plot_trades
    from workbench.reports.figures import plot_exposure, plot_monthly_returns, plot_rolling_sharpe

    ppy = _periods_per_year(result)
    sections = [Section("summary", "Summary", metrics_table(result.metrics))]
    bench = _buy_and_hold(result)
    equity_fig = plot_equity(
        result.equity, benchmark=bench, risk_events=result.risk_events, title="Equity"
    )
    note = ""
    if bench is not None:
        note = (
            f" against {bench.name}"
            if getattr(result, "benchmark", None) is not None
            else (" against buy and hold of the same symbol")
        )
    sections.append(
        Section(
            "equity",
            "Equity and drawdown",
            figure(equity_fig, "equity and drawdown", name="equity",
                   caption=f"equity at each bar's close{note}; drawdown below its running peak"),
        )
    )  # fmt: skip
    sections.append(
        Section(
            "monthly",
            "Monthly returns",
            figure(plot_monthly_returns(result.equity), "monthly returns heatmap", name="monthly",
                   caption="compounded return of each calendar month (UTC) and of each year"),
        )
    )  # fmt: skip
    sections.append(
        Section(
            "rolling",
            "Rolling Sharpe ratio",
            figure(plot_rolling_sharpe(result.equity, ppy), "rolling Sharpe ratio",
                   name="rolling_sharpe",
                   caption=f"annualised with {ppy:g} periods per year, risk-free rate 0"),
        )
    )  # fmt: skip
    sections.append(
        Section(
            "exposure",
            "Exposure",
            figure(plot_exposure(result.equity, result.market_value), "exposure",
                   name="exposure",
                   caption=f"share of bars in the market: "
                   f"{format_metric('exposure', result.metrics.get('exposure'))}"),
        )
    )  # fmt: skip
    trade_figs = []
    for sym, frame in result.bars.items():
        inds = {
            k.split(":", 1)[1]: v for k, v in result.indicators.items() if k.startswith(f"{sym}:")
        }
        fig = plot_trades(
            frame, result.trades[result.trades["symbol"] == sym], indicators=inds, title=sym
        )
        trade_figs.append(figure(fig, f"{sym} price and trades", name=f"trades_{sym}"))
    sections.append(Section("trades", "Trades", "".join(trade_figs) + trade_list(result.trades)))
    if len(result.risk_events):
        sections.append(Section("risk", "Risk events", table(result.risk_events, max_rows=200)))
    sections.append(Section("parameters", "Parameters", facts(result.params or {"(none)": ""})))
    sections.append(Section("costs", "Costs and settings", facts(_settings(result))))
    sections.append(Section("data", "Data", data_table(result.bars)))
    return sections


def metrics_table(metrics: Mapping[str, Any]) -> str:
    """Every metric: formatted value and its definition; the exact value in ``data-value``."""
    definitions = {**metric_definitions(), **_EXTRA_METRICS}
    keys = [k for k in METRICS if k in metrics] + [k for k in metrics if k not in METRICS]
    rows = []
    for key in keys:
        value = metrics[key]
        exact = _data_value(value)
        rows.append(
            f'<tr data-metric="{escape(key)}" data-value="{exact}"><th>{escape(key)}</th>'
            f'<td class="n">{escape(format_metric(key, _float(value)))}</td>'
            f'<td class="note">{escape(definitions.get(key, ""))}</td></tr>'
        )
    return (
        '<table id="metrics"><thead><tr><th>metric</th><th class="n">value</th>'
        f"<th>definition</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def trade_list(trades: pd.DataFrame) -> str:
    if trades.empty:
        return paragraph("no trades")
    shown = trades.reindex(columns=[c for c in _TRADE_SHOWN if c in trades.columns])
    pct = {"return": lambda v: "" if pd.isna(v) else f"{v:.2%}"}
    return table(shown, formats=pct, table_id="trade-list", max_rows=MAX_TRADE_ROWS)


def data_table(bars: Mapping[str, pd.DataFrame]) -> str:
    rows = [
        {"symbol": sym, "first bar": d["start"], "last bar": d["end"], "bars": d["bars"],
         "sha256": d["sha256"]}
        for sym, d in data_fingerprint(dict(bars)).items()
    ]  # fmt: skip
    return table(pd.DataFrame(rows), table_id="data") + paragraph(
        "sha256: a hash of each symbol's timestamps and OHLCV values: the same hash, the same data",
        cls="note",
    )


def _settings(result: BacktestResult) -> dict[str, Any]:
    config = result.config
    out: dict[str, Any] = {"fees paid": format_metric("fees", result.metrics.get("fees"))}
    if config is None:
        return out
    out = {
        "starting cash": f"{config.cash:,.2f}",
        "commission": _describe(config.commission),
        "slippage": _describe(config.slippage),
        "volume limit": "none" if config.volume_limit is None else f"{config.volume_limit:g}",
        "lot size": "none" if config.lot_size is None else f"{config.lot_size:g}",
        "periods per year": f"{_periods_per_year(result):g}",
        "fill convention": "a decision on bar t's close fills at bar t+1's open at the earliest",
        **out,
    }
    return out


def _describe(cost: Any) -> str:
    if not is_dataclass(cost):
        return str(cost)
    values = {k: v for k, v in asdict(cost).items() if v}
    return ", ".join(f"{k}={v:g}" for k, v in values.items()) or "none"


def _periods_per_year(result: BacktestResult) -> float:
    from workbench.data.bars import periods_per_year

    given = result.config.periods_per_year if result.config is not None else None
    if given:
        return float(given)
    return periods_per_year(result.equity.index) if len(result.equity) > 1 else 252.0


def _buy_and_hold(result: BacktestResult) -> pd.Series | None:
    """The benchmark asked for (``backtest(..., benchmark=...)``), else buy and hold of a
    single symbol."""
    given = getattr(result, "benchmark", None)
    if given is not None and len(given):
        return given.rename(given.name or "benchmark")
    if len(result.bars) != 1:
        return None
    sym, frame = next(iter(result.bars.items()))
    return frame["close"].rename(f"buy and hold {sym}")


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _data_value(value: Any) -> str:
    number = _float(value)
    if number is None or math.isnan(number):
        return ""
    return repr(number)
