"""What a backtest returns: trades, orders, fills, the equity curve and metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.backtesting.columns import time_column
from workbench.backtesting.metrics import TRADE_METRIC_COLUMNS, compute_metrics, format_metric
from workbench.backtesting.trades import build_trades
from workbench.data.bars import periods_per_year
from workbench.outdir import output_folder
from workbench.risk.events import events_frame
from workbench.series import SeriesView

if TYPE_CHECKING:
    from workbench.backtesting.engine import BacktestConfig
    from workbench.backtesting.plots import Figures
    from workbench.sim.broker import SimulatedBroker
    from workbench.strategy import Strategy


#: The orders frame's columns, each read from an order (dotted: from its request). Side,
#: type, time in force and status are ``StrEnum`` members: pandas stores them as their text
#: (a str column), as it would ``str(member)``, without a call per row.
_ORDER_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": attrgetter("id"),
    "symbol": attrgetter("request.symbol"),
    "side": attrgetter("request.side"),
    "type": attrgetter("request.type"),
    "quantity": lambda o: o.quantity if o.quantity is not None else o.request.quantity,
    "notional": attrgetter("request.notional"),
    "limit_price": attrgetter("request.limit_price"),
    "stop_price": attrgetter("request.stop_price"),
    "tif": attrgetter("request.tif"),
    "status": attrgetter("status"),
    "filled_quantity": attrgetter("filled_quantity"),
    "average_price": attrgetter("average_price"),
    "commission": attrgetter("commission"),
    "created_at": attrgetter("created_at"),
    "updated_at": attrgetter("updated_at"),
    "reason": attrgetter("request.reason"),
    "status_reason": attrgetter("status_reason"),
}
#: The fills frame's columns, each read from a fill.
_FILL_FIELDS: dict[str, Callable[[Any], Any]] = {
    "time": attrgetter("time"),
    "order_id": attrgetter("order_id"),
    "symbol": attrgetter("symbol"),
    "side": attrgetter("side"),
    "quantity": attrgetter("quantity"),
    "price": attrgetter("price"),
    "commission": attrgetter("commission"),
    "slippage": attrgetter("slippage"),
    "reason": attrgetter("reason"),
}
#: The columns of timestamps (made by :func:`time_column`).
_TIME_FIELDS = frozenset({"created_at", "updated_at", "time"})
ORDER_COLUMNS = list(_ORDER_FIELDS)
FILL_COLUMNS = list(_FILL_FIELDS)


@dataclass
class BacktestResult:
    """The outcome of one run. ``trades`` has one row per round trip (FIFO), closed or open."""

    strategy: str
    params: dict[str, Any]
    trades: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.Series
    cash: pd.Series
    market_value: pd.Series
    metrics: dict[str, float]
    bars: dict[str, pd.DataFrame] = field(repr=False)
    risk_events: pd.DataFrame = field(default_factory=lambda: events_frame(()))
    indicators: dict[str, pd.Series] = field(default_factory=dict, repr=False)
    config: BacktestConfig | None = field(default=None, repr=False)
    #: The benchmark's equity when ``backtest(..., benchmark=...)`` asked for one.
    benchmark: pd.Series | None = field(default=None, repr=False)
    #: The bars with a position (a symbol's quantity not zero): the ``exposure`` metric's
    #: bars in the market, which the net ``market_value`` cannot tell (a long and a short
    #: of equal value net to zero).
    in_market: pd.Series | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        *,
        strategy: Strategy,
        bars: dict[str, pd.DataFrame],
        config: BacktestConfig,
        broker: SimulatedBroker,
        equity: pd.Series,
        cash: pd.Series,
        in_market: pd.Series,
        risk_events: pd.DataFrame | None = None,
    ) -> BacktestResult:
        """The result of a run: ``equity``, ``cash`` and ``in_market`` at each bar (on one
        index), the broker's orders and fills. The market value (equity - cash) is made
        after the metrics, in the memory they used for their temporaries: one fresh
        curve-sized array for both (fresh memory costs more than the arithmetic)."""
        last = {s: float(f["close"].iloc[-1]) for s, f in bars.items()}
        trades = build_trades(broker.fills, last, equity.index)
        fills = _records_frame(broker.fills, _FILL_FIELDS)
        orders = _records_frame(broker.orders, _ORDER_FIELDS)
        ppy = config.periods_per_year or (
            periods_per_year(equity.index) if len(equity) > 1 else 252.0
        )
        traded = float((fills["quantity"] * fills["price"]).sum()) if len(fills) else 0.0
        # the closed trades' columns that the metrics read, taken as arrays: pandas' row
        # selection of all 16 (text columns among them) cost ~10x more
        is_closed = (trades["status"] == "closed").to_numpy()
        closed = pd.DataFrame({c: trades[c].to_numpy()[is_closed] for c in TRADE_METRIC_COLUMNS})
        market = np.empty(len(equity))
        metrics = compute_metrics(
            equity,
            closed,
            periods_per_year=ppy,
            exposure=in_market,
            turnover_notional=traded,
            scratch=market,
        )
        np.subtract(equity.to_numpy(), cash.to_numpy(), out=market)
        metrics["fees"] = float(fills["commission"].sum()) if len(fills) else 0.0
        metrics["open_trades"] = float((trades["status"] == "open").sum())
        return cls(
            strategy=strategy.label(),
            params=dict(strategy.p),
            trades=trades,
            orders=orders,
            fills=fills,
            equity=equity,
            cash=cash,
            market_value=pd.Series(market, index=equity.index, name="market_value", copy=False),
            metrics=metrics,
            bars=bars,
            risk_events=risk_events if risk_events is not None else events_frame(()),
            indicators=_indicator_series(strategy, bars),
            config=config,
            in_market=in_market,
        )

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])

    def summary(self) -> str:
        """A readable table of the main metrics."""
        lines = [f"{self.strategy} ({', '.join(f'{k}={v}' for k, v in self.params.items())})"]
        for key in (
            "total_return",
            "cagr",
            "annual_volatility",
            "sharpe",
            "sortino",
            "max_drawdown",
            "max_drawdown_duration_days",
            "calmar",
            "win_rate",
            "profit_factor",
            "number_of_trades",
            "exposure",
            "fees",
            "final_equity",
            "excess_return",
            "alpha",
            "beta",
            "tracking_error",
            "information_ratio",
        ):
            if key in self.metrics:
                lines.append(f"  {key:<28} {format_metric(key, self.metrics[key])}")
        if len(self.risk_events):
            counts = self.risk_events["action"].value_counts().sort_index()
            text = ", ".join(f"{action} {n}" for action, n in counts.items())
            lines.append(f"  {'risk_events':<28} {text}")
            for row in self.risk_events[self.risk_events["action"] == "halted"].itertuples():
                lines.append(f"    {row.time:%Y-%m-%d %H:%M} halted: {row.rule}: {row.reason}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: metrics, trades (ISO 8601 times), final equity, params."""
        trades = self.trades.copy()
        for c in ("entry_time", "exit_time"):
            trades[c] = trades[c].map(lambda t: None if pd.isna(t) else t.isoformat())
        return {
            "strategy": self.strategy,
            "params": self.params,
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "final_equity": self.final_equity,
            "trades": [
                {k: _json_number(v) for k, v in row.items()} for row in trades.to_dict("records")
            ],
            "risk_events": [
                {k: _json_value(v) for k, v in row.items()}
                for row in self.risk_events.to_dict("records")
            ],
        }

    def plot(self) -> Figures:
        """Equity with drawdown, and price with indicators and trade markers (one per symbol).

        A list of figures that a notebook displays when it is a cell's last expression
        (``result.plot()``, or ``figs = result.plot()`` then ``figs``).
        """
        from workbench.backtesting.plots import Figures, plot_equity, plot_trades

        figs = [
            plot_equity(self.equity, risk_events=self.risk_events, title=f"{self.strategy} equity")
        ]
        for sym, frame in self.bars.items():
            inds = {
                k.split(":", 1)[1]: v for k, v in self.indicators.items() if k.startswith(f"{sym}:")
            }
            figs.append(
                plot_trades(
                    frame, self.trades[self.trades["symbol"] == sym], indicators=inds, title=sym
                )
            )
        return Figures(figs)

    def report(self, path: str | Path = "report.html", *, title: str | None = None) -> Path:
        """Write one self-contained HTML report (metrics and their definitions, plots, trades,
        parameters, costs, data fingerprint); returns its path."""
        from workbench.reports.backtest import write_backtest_report

        return write_backtest_report(self, path, title=title)

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write trades.csv, orders.csv, fills.csv, equity.csv, risk_events.csv, metrics.json,
        PNG plots and report.html."""
        import matplotlib.pyplot as plt

        out = output_folder(out)
        paths = {
            "trades": out / "trades.csv",
            "orders": out / "orders.csv",
            "fills": out / "fills.csv",
            "equity": out / "equity.csv",
            "risk_events": out / "risk_events.csv",
            "metrics": out / "metrics.json",
        }
        self.trades.to_csv(paths["trades"], index=False)
        self.orders.to_csv(paths["orders"], index=False)
        self.fills.to_csv(paths["fills"], index=False)
        self.risk_events.to_csv(paths["risk_events"], index=False)
        pd.DataFrame(
            {"equity": self.equity, "cash": self.cash, "market_value": self.market_value}
        ).to_csv(paths["equity"], index_label="time")
        doc = {
            "strategy": self.strategy,
            "params": self.params,
            "metrics": self.to_dict()["metrics"],
        }
        paths["metrics"].write_text(json.dumps(doc, indent=2) + "\n")
        for stale in out.glob("trades_*.png"):  # an earlier run's symbols are not this one's
            stale.unlink()
        for i, fig in enumerate(self.plot()):
            name = "equity.png" if i == 0 else f"trades_{list(self.bars)[i - 1]}.png"
            fig.savefig(out / name, dpi=100)
            plt.close(fig)
            paths[name] = out / name
        paths["report"] = self.report(out / "report.html")
        return paths


def _records_frame(items: list[Any], fields: dict[str, Callable[[Any], Any]]) -> pd.DataFrame:
    """One row per item, built a column at a time: each column's values are inferred as
    the same values in row dicts would be (``str``; float64 with NaN for floats and None;
    object for None only), without making the row dicts; timestamps from their
    nanoseconds (:func:`time_column`). No items: object columns."""
    if not items:
        return pd.DataFrame([], columns=list(fields))
    columns: dict[str, Any] = {}
    for name, get in fields.items():
        values = list(map(get, items))
        columns[name] = time_column(values) if name in _TIME_FIELDS else values
    return pd.DataFrame(columns)


def _indicator_series(strategy: Any, bars: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Indicator views the strategy kept as attributes, as series for plots (``SYMBOL:name``)."""
    out: dict[str, pd.Series] = {}
    for attr, value in vars(strategy).items():
        if isinstance(value, SeriesView):
            sym = value.name.split(".", 1)[0]
            frame = bars.get(sym)
            if frame is not None and len(value) == len(frame):
                out[f"{sym}:{attr}"] = pd.Series(
                    value.values, index=frame.index, name=attr, copy=False
                )
    return out


def _json_number(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _json_value(v: Any) -> Any:
    """A JSON-ready cell: timestamps as ISO 8601, missing values as None."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    return _json_number(v)
