"""Sector (GICS group exposure) and correlation caps binding on real holdings (sample:SP500)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from workbench import backtest
from workbench.data.sources import load_symbols
from workbench.data.sp500 import gics_sectors

RISK = {
    "group_exposure": {"groups": "gics", "default": 0.25},
    "correlation": {"lookback": 60, "threshold": 0.6, "max_fraction": 0.35},
}


@pytest.fixture(scope="module")
def universe() -> dict[str, pd.DataFrame]:
    return load_symbols("sample:SP500", start="2012-01-01", end="2022-12-31")


def sector_weights(result, *, at_decision: bool = False) -> pd.DataFrame:
    """Each GICS sector's holdings as a fraction of equity at every bar's close; with
    ``at_decision`` the holdings after a bar's fills valued as the decision bar (the bar
    before) valued them, which is what the cap limits."""
    fills = result.fills.copy()
    fills["signed"] = fills["quantity"].where(fills["side"] == "buy", -fills["quantity"])
    held = fills.pivot_table(index="time", columns="symbol", values="signed", aggfunc="sum")
    held = held.reindex(result.equity.index).fillna(0.0).cumsum()
    close = pd.DataFrame({s: f["close"] for s, f in result.bars.items()})[held.columns]
    equity = result.equity
    if at_decision:
        close, equity = close.shift(1), equity.shift(1)
    value = (held * close).T.groupby(gics_sectors()).sum().T
    return value.div(equity, axis=0)


def test_sector_and_correlation_caps_bind_and_each_refusal_is_logged(universe, caplog):
    free = backtest("momentum_rotation", universe)
    with caplog.at_level(logging.INFO, logger="workbench.risk"):
        capped = backtest("momentum_rotation", universe, risk=RISK)
    events = capped.risk_events
    counts = events.groupby(["rule", "action"]).size()
    assert counts[("group_exposure", "refused")] > 10
    assert counts[("group_exposure", "resized")] > 10
    assert counts[("correlation", "refused")] + counts[("correlation", "resized")] > 5
    # every decision of the rules is a log line naming the rule, the action and the reason
    logged = [r for r in caplog.records if getattr(r, "event", None) == "risk"]
    assert len(logged) == len(events)
    for record, (_, row) in zip(logged, events.iterrows(), strict=True):
        assert (record.rule, record.action, record.reason) == (row.rule, row.action, row.reason)
    group = events[events["rule"] == "group_exposure"].iloc[0]
    assert "group " in group.reason and "> limit 25.0%" in group.reason
    corr = events[events["rule"] == "correlation"].iloc[0]
    assert "corr 0." in corr.reason and "> limit 35.0%" in corr.reason
    # without the caps some sector holds far more than 25 %; with them, no buy takes its
    # sector above 25 % of equity at the decision's prices (holdings may then drift; a buy
    # is a notional order, so a fall before its fill buys a little more than the cap's
    # quantity: a few percent of the cap)
    assert sector_weights(free).max().max() > 0.38
    weights = sector_weights(capped, at_decision=True)
    sector = capped.fills["symbol"].map(gics_sectors())
    buys = capped.fills[capped.fills["side"] == "buy"].assign(sector=sector)
    after_buys = [weights.at[t, s] for t, s in zip(buys["time"], buys["sector"], strict=True)]
    assert len(after_buys) > 100
    assert max(after_buys) <= 0.25 * 1.05
    assert sum(w <= 0.25 + 1e-9 for w in after_buys) > 0.8 * len(after_buys)
