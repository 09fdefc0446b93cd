"""Pieces of the exploration widgets: parameter controls, the equity chart, HTML tables."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench.backtesting.fastpath import VectorizedResult
from workbench.backtesting.metrics import format_metric
from workbench.params import Param

__all__ = [
    "EquityChart",
    "as_date",
    "default_range",
    "metrics_table",
    "param_control",
    "params_text",
    "plain",
    "png",
    "trades_table",
]

METRIC_ROWS = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "number_of_trades",
    "win_rate",
    "profit_factor",
    "exposure",
    "fees",
    "final_equity",
)
TRADE_ROWS = 12


def param_control(
    param: Param, value: Any, n_bars: int, span: tuple[float, float] | None = None
) -> w.Widget:
    """The widget for one declared parameter (its range, type and description)."""
    label = param.name
    tip = param.doc or param.describe()
    style = {"description_width": "90px"}
    if param.choices is not None:
        return w.Dropdown(options=list(param.choices), value=value, description=label, tooltip=tip)
    if param.type is bool:
        return w.Checkbox(value=bool(value), description=label, indent=False, tooltip=tip)
    if param.type is str:
        return w.Text(value=str(value), description=label, tooltip=tip, continuous_update=False)
    low, high = span if span is not None else (param.low, param.high)
    if param.type is int:
        lo = int(low) if low is not None else min(int(value), 0)
        hi = int(high) if high is not None else max(int(value) * 4, lo + 100)
        if span is None:
            hi = max(min(hi, n_bars), lo + 1, int(value))
        return w.IntSlider(
            value=int(value),
            min=lo,
            max=hi,
            step=1,
            description=label,
            tooltip=tip,
            continuous_update=False,
            style=style,
            layout=w.Layout(width="420px"),
        )
    lo = float(low) if low is not None else min(float(value), 0.0)
    hi = float(high) if high is not None else max(float(value) * 4, lo + 1.0)
    step = 10 ** math.floor(math.log10((hi - lo) / 100)) if hi > lo else 0.01
    return w.FloatSlider(
        value=float(value),
        min=lo,
        max=hi,
        step=step,
        description=label,
        tooltip=tip,
        continuous_update=False,
        readout_format=".4g",
        style=style,
        layout=w.Layout(width="420px"),
    )


class EquityChart:
    """The equity and drawdown chart as PNG bytes; its artists are made once, then updated."""

    def __init__(self, cash: float) -> None:
        self.cash = cash
        self.figure = Figure(figsize=(8, 4.2), dpi=72)
        self.figure.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.08, hspace=0.08)
        self.ax, self.ax_dd = self.figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        self._lines: tuple[Any, ...] | None = None
        self._fill: Any = None

    def draw(self, result: VectorizedResult) -> bytes:
        """Show ``result``'s equity beside buy and hold, and its drawdown."""
        ax, ax_dd = self.ax, self.ax_dd
        equity = result.equity.to_numpy()
        x = mdates.date2num(result.equity.index.tz_localize(None).to_numpy())
        close = result.bars["close"].to_numpy()
        hold = close / close[0] * self.cash
        drawdown = equity / np.maximum.accumulate(equity) - 1.0
        if self._lines is None:
            (line,) = ax.plot(x, equity, lw=1.0, label="strategy")
            (hold_line,) = ax.plot(x, hold, lw=0.8, color="0.6", label="buy and hold")
            (dd_line,) = ax_dd.plot(x, drawdown, lw=0.8, color="tab:red")
            ax.set_ylabel("equity")
            ax.legend(loc="upper left", fontsize=8)
            ax_dd.set_ylabel("drawdown")
            locator = mdates.AutoDateLocator(maxticks=7)
            ax_dd.xaxis.set_major_locator(locator)
            ax_dd.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            self._lines = (line, hold_line, dd_line)
        line, hold_line, dd_line = self._lines
        line.set_data(x, equity)
        hold_line.set_data(x, hold)
        dd_line.set_data(x, drawdown)
        if self._fill is not None:
            self._fill.remove()
        self._fill = ax_dd.fill_between(x, drawdown, 0.0, color="tab:red", alpha=0.3, lw=0)
        low, high = min(equity.min(), hold.min()), max(equity.max(), hold.max())
        pad = 0.04 * (high - low or abs(high) or 1.0)
        ax.set_xlim(x[0], x[-1] if x[-1] > x[0] else x[0] + 1)
        ax.set_ylim(low - pad, high + pad)
        ax_dd.set_ylim(min(drawdown.min() * 1.05, -0.01), 0.0)
        ax.set_title(f"{result.strategy} ({params_text(result.params)})", fontsize=10)
        return png(self.figure)


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes, lightly compressed (redrawn on every change, so speed matters)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def with_static_view(bundle: Any, chart: w.Image, parts: list[str], text: str) -> dict:
    """A widget's mime ``bundle``, plus a static view for where no widget manager runs.

    JupyterLab renders the widget; a notebook executed headless (papermill, nbval) and read
    later (nbconvert, GitHub) has no widget state, so it falls back to the HTML: the HTML
    ``parts`` (what the data and metrics widgets show) with the current chart as an image.
    ``text`` replaces ipywidgets' ``VBox(children=...)`` repr in plain-text front ends.
    """
    bundle = dict(bundle or {})
    image = bytes(chart.value or b"")
    img = f"<img src='data:image/png;base64,{base64.b64encode(image).decode()}'/>" if image else ""
    body = "".join(f"<div>{part}</div>" for part in parts if part)
    bundle["text/html"] = f"<div class='wb-static'>{img}{body}</div>"
    bundle["text/plain"] = text
    return bundle


def metrics_table(metrics: Mapping[str, float]) -> str:
    cell = "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>"
    rows = "".join(cell.format(k, format_metric(k, metrics.get(k, math.nan))) for k in METRIC_ROWS)
    return f"<table class='wb-metrics'>{rows}</table>"


def trades_table(trades: pd.DataFrame) -> str:
    if trades.empty:
        return "<i>no trades</i>"
    cols = ["direction", "status", "entry_time", "exit_time", "entry_price", "exit_price", "pnl"]
    last = trades[cols].tail(TRADE_ROWS).copy()
    for col in ("entry_time", "exit_time"):  # short UTC times: a full ISO stamp gets cut
        last[col] = last[col].map(lambda t: "" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M}")
    table = last.to_html(index=False, float_format=lambda v: f"{v:,.2f}", na_rep="")
    return f"<b>last {len(last)} of {len(trades)} trades</b>{table}"


def parity_html(report: Any) -> str:
    """A parity report for a widget: the verdict in colour and the event-driven figures."""
    color = "#070" if report.ok else "#b00"
    event = report.event.metrics
    return (
        f"<pre style='color:{color}'>{html.escape(report.summary())}</pre>"
        f"<div>event-driven: total return {event['total_return']:.2%}, "
        f"Sharpe {event['sharpe']:.3f}, {int(event['number_of_trades'])} closed trades</div>"
    )


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def default_range(control: Any) -> str:
    if isinstance(control, w.IntSlider):
        value = control.value
        lo, hi = max(control.min, value // 4 or 1), min(control.max, value * 3)
        step = max(1, (hi - lo) // 15)
        return f"{lo}:{hi}:{step}"
    if isinstance(control, w.FloatSlider):
        return f"{control.min:g}:{control.max:g}:{(control.max - control.min) / 10:g}"
    return ""


def as_date(value: Any) -> dt.date | None:
    return None if value is None else pd.Timestamp(value).date()


def plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
