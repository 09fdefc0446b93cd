"""How attached exits played out in a backtest: a table of round trips and a plot.

Each entry that filled is paired with the exit that closed it (the take-profit, the
stop-loss, or another order), read from the backtest's orders and fills, so a notebook
can show "stopped out on the entry bar" without any logic of its own.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def bracket_trips(result: Any) -> pd.DataFrame:
    """One row per filled entry: when and at what it entered and exited, and how.

    ``exit`` is ``take_profit`` (a limit exit), ``stop_loss`` (a stop, stop-limit or
    trailing stop) or ``open`` (still held at the end); ``same_bar`` marks an exit on
    the entry's own bar.
    """
    orders = result.orders.set_index("id")
    fills = result.fills
    rows = []
    exits = fills[fills["order_id"].map(orders["type"]) != "market"]
    for entry_id, fill in fills.groupby("order_id", sort=False):
        if orders.at[entry_id, "type"] != "market":
            continue
        first = fill.iloc[0]
        later = exits[(exits["time"] >= first["time"]) & (exits["side"] != first["side"])]
        row: dict[str, Any] = {
            "entry_time": first["time"],
            "side": first["side"],
            "quantity": fill["quantity"].sum(),
            "entry": first["price"],
            "exit_time": pd.NaT,
            "exit": float("nan"),
            "kind": "open",
        }
        if len(later):
            out = later.iloc[0]
            kind = orders.at[out["order_id"], "type"]
            row.update(exit_time=out["time"], exit=out["price"],
                       kind="take_profit" if kind == "limit" else "stop_loss")  # fmt: skip
            exits = exits.drop(out.name)
        rows.append(row)
    trips = pd.DataFrame(rows)
    if len(trips):
        sign = trips["side"].map({"buy": 1.0, "sell": -1.0})
        trips["return"] = sign * (trips["exit"] / trips["entry"] - 1.0)
        trips["same_bar"] = trips["entry_time"] == trips["exit_time"]
    return trips


def plot_brackets(result: Any, symbol: str | None = None, ax: Any = None) -> Any:
    """The close with each entry (triangle), take-profit (green) and stop-loss (red) exit."""
    import matplotlib.pyplot as plt

    bars = result.bars[symbol or next(iter(result.bars))]
    trips = bracket_trips(result)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    ax.plot(bars.index, bars["close"], lw=0.8, color="0.4", label="close")
    if len(trips):
        ax.scatter(trips["entry_time"], trips["entry"], marker="^", color="tab:blue",
                   label="entry", zorder=3)  # fmt: skip
        for kind, color in (("take_profit", "tab:green"), ("stop_loss", "tab:red")):
            done = trips[trips["kind"] == kind]
            ax.scatter(done["exit_time"], done["exit"], marker="v", color=color,
                       label=kind.replace("_", "-"), zorder=3)  # fmt: skip
    ax.legend(loc="upper left")
    ax.set_title("Entries and their attached exits")
    return ax
