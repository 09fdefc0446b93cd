"""The equity curve with its drawdown, drawn server-side as a PNG (no JavaScript needed)."""

from __future__ import annotations

import io

import pandas as pd


def equity_png(curve: pd.DataFrame, *, drawdown_limit: float | None = None) -> bytes:
    """Equity (top) and drawdown from the running peak (bottom, with the halt limit)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.2), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    if curve.empty:
        top.text(0.5, 0.5, "no equity recorded yet", ha="center", va="center")
        top.set_axis_off()
        bottom.set_axis_off()
    else:
        equity = curve["equity"]
        top.plot(equity.index, equity.to_numpy(), color="#1f6feb", lw=1.2, label="equity")
        top.set_ylabel("equity")
        top.grid(alpha=0.3)
        top.legend(loc="upper left", frameon=False)
        drawdown = equity / equity.cummax() - 1.0
        bottom.fill_between(
            drawdown.index, drawdown.to_numpy() * 100, 0, color="#d73a49", alpha=0.4
        )
        if drawdown_limit:
            bottom.axhline(-drawdown_limit * 100, color="#d73a49", ls="--", lw=1, label="limit")
            bottom.legend(loc="lower left", frameon=False)
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
