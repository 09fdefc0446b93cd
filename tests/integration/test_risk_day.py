"""The risk engine's day is the run's calendar day, in the backtest and live alike.

A US-equity run with extended hours (``XNYS``, minute bars 04:00-20:00 New York) in
winter (EST, UTC-5): from 19:00 New York an evening is already the next UTC day, but it is
still that day on New York's clock, as Alpaca's day is. A daily loss limit hit at 18:00
New York still holds at 19:00 and 19:30 (00:00 and 00:30 UTC) and is lifted by the first
bar of the next New York day (04:00, 09:00 UTC); ``max_orders_per_day`` counts the same
day. A run on ``24/7`` keeps UTC days. Each run is made twice, by the backtest and by the
live runner with the risk engine the composition root builds, and both must agree.
"""

from __future__ import annotations

import pandas as pd

from workbench import backtest
from workbench.compose import risk_engine
from workbench.context import Context
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Strategy

NY = "America/New_York"
CASH = 10_000.0
DROP = pd.Timestamp("2024-01-04 18:00", tz=NY)  # Thursday, EST
ASKS = [pd.Timestamp(t, tz=NY) for t in ("2024-01-04 19:00", "2024-01-04 19:30",
                                         "2024-01-05 04:00", "2024-01-05 04:30")]  # fmt: skip
NEXT_DAY = pd.Timestamp("2024-01-05 04:00", tz=NY)  # the first bar of Friday in New York


def _bars(drop: float) -> pd.DataFrame:
    """Minute bars 04:00-19:59 New York on Thursday and Friday; the price falls by ``drop``
    (a share) at Thursday's 18:00 bar and stays there."""
    days = [
        pd.date_range(f"{d} 04:00", f"{d} 19:59", freq="min", tz=NY)
        for d in ("2024-01-04", "2024-01-05")
    ]
    index = days[0].append(days[1]).tz_convert("UTC")
    close = pd.Series(100.0, index=index)
    close[index >= DROP] = 100.0 * (1.0 - drop)
    frame = pd.DataFrame({"open": close, "high": close, "low": close, "close": close})
    frame["open"] = frame["close"].shift(1).fillna(100.0)
    frame["high"] = frame[["open", "close"]].max(axis=1)  # the drop's bar opens above it
    frame["low"] = frame[["open", "close"]].min(axis=1)
    frame["volume"] = 1e6
    return frame


class Probe(Strategy):
    """Buys 95 shares on the first bar; at each of :data:`ASKS` asks to buy one more."""

    name = "probe"
    params = ()

    def on_bar(self, ctx: Context) -> None:
        if ctx.position("X").quantity == 0 and not ctx.open_orders("X"):
            ctx.buy(95.0, symbol="X", reason="first")
        elif ctx.time in ASKS:
            ctx.buy(1.0, symbol="X", reason="more")


def _spec(calendar: str, risk: dict) -> RunSpec:
    return RunSpec(
        symbols=("X",), timeframe="1Min", session="all", calendar=calendar, cash=CASH, risk=risk
    )


def _events(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, str, str]]:
    return [(pd.Timestamp(r.time), r.rule, str(r.action)) for r in frame.itertuples()]


def _decided(fills: pd.DataFrame) -> list[pd.Timestamp]:
    """The bars whose buys filled (a fill is at the next bar's open, a minute later)."""
    return sorted(pd.Timestamp(t) - pd.Timedelta(minutes=1) for t in fills["time"])


def _both(tmp_path, calendar: str, risk: dict, drop: float) -> tuple[list, list, list]:
    """(risk events, their times and reasons, bars whose buys filled), of the backtest and
    of the live runner: the same, or the test fails here."""
    bars = {"X": _bars(drop)}
    result = backtest(Probe(), bars, cash=CASH, risk=risk, calendar=calendar)
    state = StateStore(tmp_path / "live.sqlite")
    broker = SimulatedBroker(CASH)
    runner = LiveRunner(
        Probe(), ["X"], broker, SimulatedVenueFeed(ReplayFeed(bars), broker), state,
        risk=risk_engine(_spec(calendar, risk), state, "probe"),
    )  # fmt: skip
    runner.run()
    assert runner.risk is not None
    live = [(e.time, e.rule, str(e.action)) for e in runner.risk.events]
    events = _events(result.risk_events)
    assert events == live
    assert _decided(result.fills) == _decided(state.fills())
    state.close()
    return events, [(e.time, e.reason) for e in runner.risk.events], _decided(result.fills)


def test_a_daily_loss_limit_holds_through_the_new_york_evening(tmp_path) -> None:
    events, reasons, buys = _both(tmp_path, "XNYS", {"daily_loss_limit": 0.05}, 0.1)
    assert events == [
        (DROP, "daily_loss_limit", "reducing"),
        (ASKS[0], "daily_loss_limit", "refused"),  # 00:00 UTC
        (ASKS[1], "daily_loss_limit", "refused"),  # 00:30 UTC
        (NEXT_DAY, "daily_loss_limit", "resumed"),
    ]
    assert buys[1:] == ASKS[2:]  # Friday's asks pass
    assert reasons[0][1].endswith("; only exits until 2024-01-05 (America/New_York)")
    assert reasons[-1][1] == "new day 2024-01-05 (America/New_York)"


def test_max_orders_per_day_counts_the_new_york_day(tmp_path) -> None:
    events, _, buys = _both(tmp_path, "XNYS", {"max_orders_per_day": 2}, 0.0)
    # Thursday: the first buy and 19:00's; 19:30 (00:30 UTC) is the third of the same day
    assert events == [(ASKS[1], "max_orders_per_day", "refused")]
    assert buys[1:] == [ASKS[0], *ASKS[2:]]  # Friday from 04:00 New York: a new count


def test_a_24_7_run_keeps_utc_days(tmp_path) -> None:
    """The same runs on ``24/7``: the day turns at 00:00 UTC, 19:00 New York."""
    events, _, buys = _both(tmp_path, "24/7", {"daily_loss_limit": 0.05}, 0.1)
    assert events == [
        (DROP, "daily_loss_limit", "reducing"),
        (ASKS[0], "daily_loss_limit", "resumed"),
    ]
    assert buys[1:] == ASKS
    (tmp_path / "orders").mkdir()
    events, _, buys = _both(tmp_path / "orders", "24/7", {"max_orders_per_day": 2}, 0.0)
    # the UTC day from 19:00 New York: 19:00 and 19:30 count, Friday morning is its third
    assert events == [(t, "max_orders_per_day", "refused") for t in ASKS[2:]]
    assert buys[1:] == ASKS[:2]
