"""Interactive exploration of a strategy over a universe: a symbol picker and a weights chart.

``explore("momentum_rotation", "sample:SP500")`` (any strategy with ``target_weights``,
or any data naming several symbols) shows:

- one control per declared parameter, the symbols to include (a multiple choice over the
  universe), the date range, the commission (fraction of notional) and the slippage (bps);
- the equity against the equal-weight buy-and-hold of the chosen symbols, and below it
  the weights over time (stacked), re-simulated by the portfolio kernel
  (:mod:`workbench.backtesting.portfolio_nb`) whenever a control moves; the metrics
  with the benchmark-relative figures;
- "Confirm": the event-driven backtest of the same choice and the parity check
  (:func:`~workbench.research.parity.check_parity`).

Charts are PNG images drawn by matplotlib without pyplot, as in
:mod:`workbench.research.widgets`; tests set ``control.value`` and read the outputs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench.errors import ConfigError, WorkbenchError
from workbench.research.parity import ParityReport, check_parity
from workbench.research.widget_parts import (
    as_date,
    metrics_table,
    param_control,
    parity_html,
    png,
    with_static_view,
)
from workbench.strategy import Strategy, make_strategy, resolve_strategy

LABEL = {"description_width": "initial"}
RELATIVE_ROWS = ("excess_return", "alpha", "beta", "tracking_error", "information_ratio")


class PortfolioExplorer:
    """The widgets of :func:`~workbench.research.widgets.explore` over a universe."""

    def __init__(
        self,
        strategy: str | type[Strategy],
        data: str | Mapping[str, pd.DataFrame],
        params: Mapping[str, Any] | None = None,
        *,
        cash: float = 100_000.0,
        commission: float = 0.0005,
        slippage: float = 2.0,
        start: Any = None,
        end: Any = None,
        symbols: Sequence[str] | None = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        from workbench.backtesting.api import load_universe

        self.cls = resolve_strategy(strategy)
        if not hasattr(self.cls, "target_weights"):
            raise ConfigError(
                f"{self.cls.label()} has no target_weights: it cannot be explored over a universe",
                hint="use a portfolio strategy (momentum_rotation, ...) or ma_crossover",
            )
        self.cash = float(cash)
        self.universe = load_universe(data)
        self.spec = data if isinstance(data, str) else "frames"
        first = next(iter(self.universe.values()))
        space = self.cls.param_space()
        values = space.resolve(params or {}, strategy=self.cls.label())
        self.controls: dict[str, w.Widget] = {
            name: param_control(p, values[name], len(first), (ranges or {}).get(name))
            for name, p in space.params.items()
        }
        names = list(self.universe)
        self.symbols = w.SelectMultiple(
            options=names,
            value=tuple(symbols or names),
            rows=min(len(names), 10),
            description="symbols",
            style=LABEL,
        )
        self.start = w.DatePicker(
            value=as_date(start) or first.index[0].date(), description="start", style=LABEL
        )
        self.end = w.DatePicker(
            value=as_date(end) or first.index[-1].date(), description="end", style=LABEL
        )
        self.commission = w.BoundedFloatText(
            value=commission, min=0.0, max=0.1, step=0.0001, description="commission", style=LABEL
        )
        self.slippage = w.BoundedFloatText(
            value=slippage, min=0.0, max=1000.0, step=0.5, description="slippage (bps)", style=LABEL
        )
        self.status = w.HTML()
        self.chart = w.Image(format="png", layout=w.Layout(width="720px"))
        self.metrics = w.HTML()
        self.confirm_button = w.Button(
            description="Confirm (event-driven)", button_style="info", layout=w.Layout(width="auto")
        )
        self.parity_html = w.HTML()
        self.result: Any = None
        self.parity: ParityReport | None = None
        for control in (
            *self.controls.values(),
            self.symbols,
            self.start,
            self.end,
            self.commission,
            self.slippage,
        ):
            control.observe(lambda _: self.update(), names="value")
        self.confirm_button.on_click(lambda _: self.confirm())
        setup = w.VBox([self.symbols, self.start, self.end, self.commission, self.slippage])
        self.widget = w.VBox(
            [
                w.HBox([w.VBox(list(self.controls.values())), setup]),
                self.status,
                w.HBox([self.chart, self.metrics]),
                w.VBox([self.confirm_button, self.parity_html]),
            ]
        )
        self.update()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        symbols = ", ".join(self.symbols.value)
        text = f"{self.cls.label()} explorer ({symbols}): interactive in JupyterLab"
        parts = [self.status.value, self.metrics.value]
        return with_static_view(self.widget._repr_mimebundle_(**kwargs), self.chart, parts, text)

    def params(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def bars(self) -> dict[str, pd.DataFrame]:
        """The chosen symbols over the chosen dates."""
        start = pd.Timestamp(self.start.value, tz="UTC") if self.start.value else None
        end = pd.Timestamp(self.end.value, tz="UTC") if self.end.value else None
        if end is not None:
            end = end + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
        out = {}
        for sym in self.symbols.value:
            cut = self.universe[sym].loc[start:end]
            cut.attrs = dict(self.universe[sym].attrs)
            out[sym] = cut
        if not out:
            raise ConfigError("no symbol chosen", hint="pick at least one in the list")
        return out

    def update(self) -> Any:
        """Re-simulate with the controls' values; redraw the charts and the metrics."""
        from workbench.backtesting.benchmark import benchmark_equity, relative_metrics
        from workbench.backtesting.fastpath import result_metrics
        from workbench.data.bars import periods_per_year
        from workbench.research.portfolio_sweep import run_portfolio_vectorized

        started = time.perf_counter()
        try:
            bars = self.bars()
            run = run_portfolio_vectorized(
                make_strategy(self.cls, self.params()),
                bars,
                cash=self.cash,
                commission=self.commission.value,
                slippage=self.slippage.value,
            )
        except WorkbenchError as exc:
            self.status.value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"
            return None
        ppy = periods_per_year(run.equity.index)
        bench = benchmark_equity(None, bars, run.equity.index, self.cash)
        metrics = result_metrics(run.equity, run.trades, run.fills, ppy, in_market=run.in_market)
        metrics.update(relative_metrics(run.equity, bench, ppy))
        self.result = SimpleNamespace(
            strategy=self.cls.label(),
            equity=run.equity,
            cash=run.cash,
            fills=run.fills,
            bars=bars,
            benchmark=bench,
            metrics=metrics,
            rejected=run.rejected,
        )
        self.chart.value = png(self._figure())
        rows = "".join(
            f"<tr><td>{k}</td><td style='text-align:right'>{metrics.get(k, np.nan):.4g}</td></tr>"
            for k in RELATIVE_ROWS
        )
        self.metrics.value = metrics_table(metrics) + f"<table>{rows}</table>"
        self.parity = None
        self.parity_html.value = ""
        seconds = time.perf_counter() - started
        self.status.value = (
            f"{self.cls.label()} on {len(bars)} symbols of {html.escape(self.spec)}, "
            f"{len(run.fills)} fills, {run.rejected} refused ({seconds * 1e3:.0f} ms)"
        )
        return self.result

    def _figure(self) -> Figure:
        from workbench.backtesting.portfolio_plots import weights

        r = self.result
        fig = Figure(figsize=(9, 6), dpi=80)
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        top.plot(r.equity.index, r.equity, lw=1.2, label=r.strategy)
        top.plot(r.benchmark.index, r.benchmark, lw=1.0, color="grey", label="equal weight B&H")
        top.set_yscale("log")
        top.legend(loc="upper left")
        top.set_ylabel("equity")
        held = weights(r).clip(lower=0.0)
        if held.shape[1]:
            bottom.stackplot(held.index, held.T.to_numpy(), labels=list(held.columns), lw=0)
            bottom.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
        bottom.set_ylabel("weights")
        fig.tight_layout()
        return fig

    def confirm(self) -> ParityReport | None:
        """The event-driven backtest of the current choice and the parity check."""
        try:
            report = check_parity(
                self.cls,
                self.bars(),
                self.params(),
                cash=self.cash,
                commission=self.commission.value,
                slippage=self.slippage.value,
            )
        except WorkbenchError as exc:
            self.parity_html.value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"
            return None
        self.parity = report
        self.parity_html.value = parity_html(report)
        return report
