"""Interactive exploration in a notebook (ipywidgets 8): sliders, a sweep heatmap, a confirm button.

``explore("ma_crossover", "sample:SPX")`` shows:

- one control per declared parameter (sliders over the declared range for numbers, a
  checkbox for booleans, a dropdown for choices), plus the data source, the date range,
  the commission (fraction of notional) and the slippage (basis points);
- the equity chart (with drawdown) and the metrics table, recomputed by the vectorized
  backtest (:func:`~workbench.backtesting.fastpath.run_vectorized`, the numba kernel)
  whenever a control moves, and the last trades;
- a sweep panel: two parameters and their ranges, a metric, "Run sweep" draws the
  heatmap; choosing a cell (the two cell sliders, or a row of the top list) sets the
  parameters to that combination, so its equity and trades show above;
- "Confirm": the event-driven backtest of the current combination and the parity check
  against the vectorized result (:func:`~workbench.research.parity.check_parity`).

Charts are PNG images rendered by matplotlib (no pyplot, no front-end extension), so the
widgets work in JupyterLab and headless: tests set ``control.value`` from Python and read
``chart.value`` / ``metrics.value``. Integer sliders stop at the number of bars; pass
``ranges={"fast": (2, 200)}`` to narrow any slider.
"""

from __future__ import annotations

import html
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from workbench.backtesting.column_metrics import COLUMN_METRICS
from workbench.backtesting.fastpath import VectorizedResult, run_vectorized
from workbench.errors import WorkbenchError
from workbench.research.heatmap import plot_heatmap
from workbench.research.parity import ParityReport, check_parity
from workbench.research.sweep import parse_grid, sweep, top
from workbench.research.widget_parts import (
    EquityChart,
    as_date,
    default_range,
    metrics_table,
    param_control,
    params_text,
    parity_html,
    plain,
    png,
    trades_table,
    with_static_view,
)
from workbench.strategy import Strategy, resolve_strategy

if TYPE_CHECKING:
    from workbench.research.portfolio_widgets import PortfolioExplorer

__all__ = ["Explorer", "explore", "param_control"]

log = logging.getLogger(__name__)

SOURCES = ("sample:SPX", "sample:NASDAQ")
#: Labels wide enough for their text (ipywidgets cuts a description at about 80 px).
LABEL = {"description_width": "initial"}


class Explorer:
    """The widgets of :func:`explore`; ``widget`` is the box to display."""

    def __init__(
        self,
        strategy: str | type[Strategy] = "ma_crossover",
        data: str | pd.DataFrame = "sample:SPX",
        params: Mapping[str, Any] | None = None,
        *,
        cash: float = 100_000.0,
        commission: float = 0.0005,
        slippage: float = 2.0,
        start: Any = None,
        end: Any = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
        sources: Sequence[str] = SOURCES,
        confirm_engine: str = "numba",
    ) -> None:
        self.cls = resolve_strategy(strategy)
        self.cash = float(cash)
        self.confirm_engine = confirm_engine
        self._bars: dict[str, pd.DataFrame] = {}
        self._frame_data = data if isinstance(data, pd.DataFrame) else None
        spec = "frame" if self._frame_data is not None else str(data)
        full = self._load(spec)
        space = self.cls.param_space()
        values = space.resolve(params or {}, strategy=self.cls.label())
        self.result: VectorizedResult | None = None
        self.parity: ParityReport | None = None
        self.sweep_frame: pd.DataFrame | None = None
        self.last_update_seconds = math.nan
        self._quiet = False

        self.controls: dict[str, w.Widget] = {
            name: param_control(p, values[name], len(full), (ranges or {}).get(name))
            for name, p in space.params.items()
        }
        options = list(dict.fromkeys([*sources, spec]))
        self.data = w.Combobox(
            value=spec,
            options=options,
            description="data",
            ensure_option=False,
            continuous_update=False,
        )
        first, last = full.index[0].date(), full.index[-1].date()
        self.start = w.DatePicker(value=as_date(start) or first, description="start")
        self.end = w.DatePicker(value=as_date(end) or last, description="end")
        self.commission = w.BoundedFloatText(
            value=commission,
            min=0.0,
            max=0.1,
            step=0.0001,
            description="commission",
            tooltip="fraction of traded notional (0.0005 = 0.05%)",
            style=LABEL,
        )
        self.slippage = w.BoundedFloatText(
            value=slippage,
            min=0.0,
            max=1000.0,
            step=0.5,
            description="slippage (bps)",
            tooltip="basis points of the price, against the trader",
            style=LABEL,
        )
        for control in (self.data, self.start, self.end):
            control.style = LABEL
        self.source = w.HTML()  # names the data shown
        self.status = w.HTML()
        self.chart = w.Image(format="png", layout=w.Layout(width="640px"))
        self.metrics = w.HTML()
        self.trades = w.HTML()
        self._build_sweep_panel(space)
        self.confirm_button = w.Button(
            description="Confirm (event-driven)",
            button_style="info",
            layout=w.Layout(width="auto"),
            tooltip="run the event-driven backtest of these parameters and check parity",
        )
        self.parity_html = w.HTML()

        self._chart = EquityChart(self.cash)
        for control in self.controls.values():
            control.observe(self._on_control, names="value")
        for control in (self.start, self.end, self.commission, self.slippage):
            control.observe(self._on_control, names="value")
        self.data.observe(self._on_data, names="value")
        self.confirm_button.on_click(lambda _: self.confirm())
        self.widget = self._layout()
        self.update()

    # -- display --------------------------------------------------------------------
    def _layout(self) -> w.Widget:
        params = w.VBox(list(self.controls.values()))
        setup = w.VBox([self.data, self.start, self.end, self.commission, self.slippage])
        main = w.HBox([self.chart, self.metrics])
        confirm = w.VBox([self.confirm_button, self.parity_html])
        sweep_box = w.VBox(
            [
                w.HBox([self.sweep_x, self.sweep_x_range, self.sweep_metric]),
                w.HBox([self.sweep_y, self.sweep_y_range, self.sweep_button]),
                w.HBox([self.heatmap, w.VBox([self.cell_x, self.cell_y, self.top_list])]),
            ]
        )
        panel = w.Accordion(children=[sweep_box], titles=("Sweep",))
        return w.VBox(
            [w.HBox([params, setup]), self.source, self.status, main, self.trades, confirm, panel]
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        params = params_text(self.result.params) if self.result is not None else "no result"
        text = f"{self.cls.label()} explorer ({params}): interactive in JupyterLab"
        parts = [self.source.value, self.status.value, self.metrics.value]
        return with_static_view(self.widget._repr_mimebundle_(**kwargs), self.chart, parts, text)

    # -- data -----------------------------------------------------------------------
    def _load(self, spec: str) -> pd.DataFrame:
        if spec not in self._bars:
            if spec == "frame" and self._frame_data is not None:
                self._bars[spec] = self._frame_data
            else:
                from workbench.data.sources import load_bars

                self._bars[spec] = load_bars(spec)
        return self._bars[spec]

    def bars(self) -> pd.DataFrame:
        """The bars the controls select (source and date range)."""
        full = self._load(self.data.value)
        start = pd.Timestamp(self.start.value, tz="UTC") if self.start.value else None
        end = pd.Timestamp(self.end.value, tz="UTC") if self.end.value else None
        if end is not None:
            end = end + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
        cut = full.loc[start:end]
        cut.attrs = dict(full.attrs)
        return cut

    def params(self) -> dict[str, Any]:
        """The parameter values the controls show."""
        return {name: control.value for name, control in self.controls.items()}

    def _on_data(self, change: dict[str, Any]) -> None:
        try:
            full = self._load(change["new"])
        except WorkbenchError as exc:
            self._error(exc)
            return
        self._quiet = True
        try:
            self.start.value = full.index[0].date()
            self.end.value = full.index[-1].date()
        finally:
            self._quiet = False
        self.update()

    def _on_control(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.update()

    # -- the vectorized run -------------------------------------------------------------
    def update(self) -> VectorizedResult | None:
        """Re-run the vectorized backtest with the controls' values; refresh the outputs."""
        started = time.perf_counter()
        try:
            result = run_vectorized(
                self.cls,
                self.bars(),
                self.params(),
                cash=self.cash,
                commission=self.commission.value,
                slippage=self.slippage.value,
            )
        except WorkbenchError as exc:
            self._error(exc)
            return None
        self.result = result
        self.parity = None
        self.parity_html.value = ""
        self.source.value = self._source_text(result)
        self.chart.value = self._chart.draw(result)
        self.metrics.value = metrics_table(result.metrics)
        self.trades.value = trades_table(result.trades)
        self.last_update_seconds = time.perf_counter() - started
        self.status.value = (
            f"<span style='color:#555'>{html.escape(result.strategy)} "
            f"({html.escape(params_text(result.params))}) on {len(result.equity)} bars: "
            f"vectorized run and charts in {self.last_update_seconds * 1e3:.0f} ms</span>"
        )
        return result

    def _error(self, exc: Exception) -> None:
        """Say what is wrong, and take down what no longer matches the inputs."""
        log.debug("explorer: %s", exc)
        self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
        self.result = None
        self.parity = None
        self.chart.value = b""
        self.metrics.value = "<i>no result: fix the inputs above</i>"
        self.trades.value = ""
        self.parity_html.value = ""
        self.source.value = ""

    def _source_text(self, result: VectorizedResult) -> str:
        bars = self.bars()
        symbol = bars.attrs.get("symbol") or self.data.value
        spec = self.data.value if self.data.value != "frame" else "the frame passed in"
        first, last = result.equity.index[0], result.equity.index[-1]
        return (
            f"<b>{html.escape(str(symbol))}</b> from {html.escape(spec)}: "
            f"{first:%Y-%m-%d} to {last:%Y-%m-%d}, {len(result.equity):,} bars"
        )

    # -- sweep panel ----------------------------------------------------------------------
    def _build_sweep_panel(self, space: Any) -> None:
        numeric = [n for n, p in space.params.items() if p.type in (int, float) and not p.choices]
        x = numeric[0] if numeric else None
        y = numeric[1] if len(numeric) > 1 else x
        self.sweep_x = w.Dropdown(options=numeric, value=x, description="x")
        self.sweep_y = w.Dropdown(options=numeric, value=y, description="y")
        self.sweep_x_range = w.Text(value=default_range(self.controls.get(x)), description="values")
        self.sweep_y_range = w.Text(value=default_range(self.controls.get(y)), description="values")
        self.sweep_metric = w.Dropdown(
            options=list(COLUMN_METRICS), value="sharpe", description="metric"
        )
        self.sweep_button = w.Button(description="Run sweep", button_style="primary")
        self.heatmap = w.Image(format="png", layout=w.Layout(width="560px"))
        self.cell_x = w.SelectionSlider(options=[""], description="cell x", continuous_update=False)
        self.cell_y = w.SelectionSlider(options=[""], description="cell y", continuous_update=False)
        self.top_list = w.Select(
            options=[], rows=10, description="top", layout=w.Layout(width="320px")
        )
        self.sweep_button.on_click(lambda _: self.run_sweep())
        self.cell_x.observe(self._on_cell, names="value")
        self.cell_y.observe(self._on_cell, names="value")
        self.top_list.observe(self._on_top, names="value")

    def run_sweep(self) -> pd.DataFrame | None:
        """Sweep the two chosen parameters over their ranges; draw the heatmap."""
        x, y = self.sweep_x.value, self.sweep_y.value
        try:
            grid = parse_grid(
                [f"{x}={self.sweep_x_range.value}", f"{y}={self.sweep_y_range.value}"]
            )
            fixed = {k: v for k, v in self.params().items() if k not in grid}
            frame = sweep(
                self.cls,
                self.bars(),
                grid,
                metric=self.sweep_metric.value,
                params=fixed,
                cash=self.cash,
                commission=self.commission.value,
                slippage=self.slippage.value,
                keep_returns=False,
                progress=False,
            )
        except WorkbenchError as exc:
            self._error(exc)
            return None
        self.sweep_frame = frame
        best = frame.iloc[0]
        self._quiet = True
        try:
            self.cell_x.options = [plain(v) for v in sorted(frame[x].unique())]
            self.cell_y.options = [plain(v) for v in sorted(frame[y].unique())]
            best_rows = top(frame, 10)
            metric = frame.attrs["metric"]
            self.top_list.options = [
                (f"{x}={plain(a)}, {y}={plain(b)}: {m:.4g}", int(trial))
                for trial, a, b, m in zip(
                    best_rows.index, best_rows[x], best_rows[y], best_rows[metric], strict=True
                )
            ]
            self.top_list.value = None
            self.cell_x.value = plain(best[x])
            self.cell_y.value = plain(best[y])
        finally:
            self._quiet = False
        self.select_cell(plain(best[x]), plain(best[y]))
        return frame

    def _on_cell(self, change: dict[str, Any]) -> None:
        if not self._quiet and self.sweep_frame is not None:
            self.select_cell(self.cell_x.value, self.cell_y.value)

    def _on_top(self, change: dict[str, Any]) -> None:
        if self._quiet or change["new"] is None or self.sweep_frame is None:
            return
        row = self.sweep_frame.loc[change["new"]]
        x, y = self.sweep_x.value, self.sweep_y.value
        self._quiet = True
        try:
            self.cell_x.value = plain(row[x])
            self.cell_y.value = plain(row[y])
        finally:
            self._quiet = False
        self.select_cell(plain(row[x]), plain(row[y]))

    def select_cell(self, x_value: Any, y_value: Any) -> VectorizedResult | None:
        """Show one combination of the sweep: set the two parameters, re-run, mark the cell."""
        frame = self.sweep_frame
        if frame is None:
            return None
        x, y = self.sweep_x.value, self.sweep_y.value
        self._quiet = True
        try:
            self.controls[x].value = x_value
            self.controls[y].value = y_value
        finally:
            self._quiet = False
        fig = Figure(figsize=(7, 4.8), dpi=80)
        plot_heatmap(
            frame, x, y, frame.attrs["metric"], ax=fig.add_subplot(), mark=(x_value, y_value)
        )
        self.heatmap.value = png(fig)
        return self.update()

    # -- confirm --------------------------------------------------------------------------
    def confirm(self) -> ParityReport | None:
        """Run the event-driven backtest of the current combination and check parity."""
        try:
            report = check_parity(
                self.cls,
                self.bars(),
                self.params(),
                cash=self.cash,
                commission=self.commission.value,
                slippage=self.slippage.value,
                engine=self.confirm_engine,
            )
        except WorkbenchError as exc:
            self._error(exc)
            return None
        self.parity = report
        self.parity_html.value = parity_html(report)
        return report


def explore(
    strategy: str | type[Strategy] = "ma_crossover",
    data: str | pd.DataFrame = "sample:SPX",
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Explorer | PortfolioExplorer:
    """Interactive exploration of ``strategy`` on ``data`` (module docstring).

    Over a universe (data naming several symbols, or a strategy with only
    ``target_weights``) it is a :class:`~workbench.research.portfolio_widgets.PortfolioExplorer`:
    a symbol picker and a weights chart.
    """
    cls = resolve_strategy(strategy)
    if _is_universe(cls, data):
        from workbench.research.portfolio_widgets import PortfolioExplorer

        kwargs.pop("sources", None)
        kwargs.pop("confirm_engine", None)
        return PortfolioExplorer(cls, data, params, **kwargs)
    return Explorer(strategy, data, params, **kwargs)


def _is_universe(cls: type[Strategy], data: Any) -> bool:
    from workbench.backtesting.vectorized import has_vectorized

    if isinstance(data, Mapping) and len(data) > 1:
        return True
    if isinstance(data, str):
        from workbench.data.spec import parse_spec

        scheme, target, options = parse_spec(data)
        several = (
            "," in target
            or "symbols" in options
            or (scheme == "sample" and target.upper() == "SP500")
        )
        if several:
            return True
    return hasattr(cls, "target_weights") and not has_vectorized(cls)
