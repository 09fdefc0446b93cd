"""Property: whatever a strategy asks and however prices move, no configured limit is breached
after the risk engine, and every refusal or resize is logged with its reason.

Random examples rarely reach some limits (a drawdown halt needs a fall while a position is
held), so besides the general examples each limit gets examples steered at it (the limit on,
tight and alone; a crash, a position in both symbols) and must bind in at least a tenth of
them: a property that never makes a limit act says nothing about it.

A scripted strategy sends random targets and market orders (random sizes, stops on either
side or none) on two symbols over random hourly prices from 15:00 New York on, spanning
several days (New York's: the engine's default calendar's), through the real backtester and
simulated broker. Opens equal the previous close and costs are zero, so every order fills
at its decision price and the limits can be checked exactly on the positions that result,
computed here independently of the risk engine.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from workbench.backtesting.engine import BacktestConfig, Engine
from workbench.execution.targets import orders_for_target
from workbench.indicators import atr
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.risk import (
    Correlation,
    GroupExposure,
    PositionSizing,
    RiskConfig,
    RiskEngine,
)
from workbench.strategy import Strategy

SYMBOLS = ("A", "B")
CASH = 10_000.0
TOL = 1e-7


class Scripted(Strategy):
    """Acts out ``script[bar]``: {symbol: (kind, size, stop distance or None)}."""

    name = "scripted"

    def __init__(self, script: list[dict[str, tuple]]) -> None:
        super().__init__()
        self.script = script
        self.stops: dict[tuple[int, str], float | None] = {}
        self.bar = -1

    def on_bar(self, ctx: Any) -> None:
        self.bar += 1
        for sym, (kind, size, distance) in self.script[self.bar].items():
            close = ctx.data(sym)["close"][-1]
            direction = 1 if size > 0 else -1
            if kind == "buy":
                direction = 1
            elif kind == "sell":
                direction = -1
            stop = None if distance is None else close * (1 - direction * distance)
            self.stops[(self.bar, sym)] = stop
            if kind == "percent":
                ctx.target(sym, percent=size, stop=stop, reason="P")
            elif kind == "quantity":
                ctx.target(sym, quantity=size, stop=stop, reason="Q")
            else:
                ctx.order(kind, abs(size) or 1.0, symbol=sym, protective_stop=stop, reason="O")


class Spy(RiskEngine):
    """The real engine; remembers what each check was asked and what it let through."""

    def __init__(self, config: RiskConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[pd.Timestamp, list[tuple], list[tuple]]] = []

    def check(self, intents, time, account, market=None, *, lot_size=None):  # type: ignore[override]
        asked = _requests(intents, account, market)
        out = super().check(intents, time, account, market, lot_size=lot_size)
        own = [i for i in out if isinstance(i, TargetIntent) and i.reason.startswith("risk=")]
        passed = _requests([i for i in out if i not in own], account, market)
        self.calls.append((time, asked, passed))
        return out


def _requests(intents: list[Intent], account: Any, market: Any) -> list[tuple]:
    """(symbol, side, quantity) of the orders ``intents`` send, at the decision price."""
    rows = []
    equity = account.get_account().equity
    for intent in intents:
        if isinstance(intent, CancelIntent):
            continue
        if isinstance(intent, OrderIntent):
            requests = [intent.request]
        else:
            price = market.price(intent.symbol)
            position = account.get_positions().get(intent.symbol)
            requests = orders_for_target(
                intent,
                position=0.0 if position is None else position.quantity,
                price=price,
                equity=equity,
            )
        for r in requests:
            q = r.quantity if r.quantity is not None else r.notional / market.price(r.symbol)
            rows.append((r.symbol, str(r.side), q))
    return rows


def _bars(returns: list[list[float]]) -> dict[str, pd.DataFrame]:
    index = pd.date_range("2024-03-04 20:00", periods=len(returns), freq="h", tz="UTC")
    out = {}
    for j, sym in enumerate(SYMBOLS):
        close = 100.0 * np.cumprod([1 + r[j] for r in returns])
        open_ = np.concatenate([[100.0], close[:-1]])
        out[sym] = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) * 1.002,
                "low": np.minimum(open_, close) * 0.998,
                "close": close,
                "volume": 1e9,
            },
            index=index,
        )
    return out


action = st.tuples(
    st.sampled_from(["percent", "quantity", "buy", "sell"]),
    st.floats(-1.5, 1.5).map(lambda x: round(x, 3)),
    st.one_of(st.none(), st.floats(-0.02, 0.12)),
)


#: Every limit the engine enforces. Each has examples of its own where it is the focus: on,
#: tight, alone, with the market and the script shaped so that it has something to do
#: (a crash for the loss limits, two positions for the exposure caps), and must bind in
#: at least a tenth of them; the general examples switch every limit on or off at random.
LIMITS = (
    "position_sizing",
    "max_drawdown",
    "daily_loss_limit",
    "group_exposure",
    "correlation",
    "max_order_notional",
    "max_orders_per_day",
    "max_open_positions",
)
BINDING = ("refused", "resized", "halted", "reducing")


@st.composite
def scenarios(draw: st.DrawFn, focus: str | None = None) -> tuple[list, list, RiskConfig]:
    n = draw(st.integers(8 if focus is None else 12, 60))
    returns = draw(
        st.lists(st.tuples(*(st.floats(-0.06, 0.06),) * 2).map(list), min_size=n, max_size=n)
    )
    if focus in ("max_drawdown", "daily_loss_limit", "correlation"):
        start = draw(st.integers(n // 2, n - 3))  # a crash: three bars of -6% on both
        returns[start : start + 3] = [[-0.06, -0.06]] * 3
    script = draw(
        st.lists(
            st.dictionaries(st.sampled_from(SYMBOLS), action, max_size=2), min_size=n, max_size=n
        )
    )
    script = [
        {
            s: (k, size * (40 if k in ("quantity", "buy", "sell") else 1), d)
            for s, (k, size, d) in bar.items()
        }
        for bar in script
    ]
    if focus is not None:  # a full position in both, after the correlation's lookback
        at = min(n // 2 - 1, 7)
        script[at] = {"A": ("percent", 0.6, None), "B": ("percent", 0.6, None)}
    maybe = lambda x: st.one_of(st.none(), x)  # noqa: E731

    def limit(name: str, x: st.SearchStrategy) -> st.SearchStrategy:
        if focus is None:
            return maybe(x)
        return x if name == focus else st.none()

    config = RiskConfig(
        position_sizing=draw(
            limit(
                "position_sizing",
                st.builds(
                    PositionSizing,
                    risk_per_trade=st.floats(0.005, 0.05)
                    if focus
                    else maybe(st.floats(0.005, 0.05)),
                    atr_period=st.integers(2, 5),
                    atr_multiple=st.floats(0.5, 3.0),
                    max_position_notional=maybe(st.floats(500.0, 20_000.0)),
                    max_position_fraction=maybe(st.floats(0.05, 1.0)),
                ),
            )
        ),
        max_drawdown=draw(limit("max_drawdown", st.floats(0.03, 0.3 if focus is None else 0.1))),
        daily_loss_limit=draw(
            limit("daily_loss_limit", st.floats(0.01, 0.1 if focus is None else 0.05))
        ),
        group_exposure=draw(
            limit(
                "group_exposure",
                st.floats(0.1, 1.0).map(lambda f: GroupExposure({"A": "g", "B": "g"}, {"g": f})),
            )
        ),
        correlation=draw(
            limit(
                "correlation",
                st.builds(
                    Correlation,
                    lookback=st.integers(3, 6),
                    threshold=st.floats(-0.5, 0.9 if focus is None else 0.5),
                    max_fraction=st.floats(0.1, 1.0),
                ),
            )
        ),
        max_order_notional=draw(limit("max_order_notional", st.floats(300.0, 12_000.0))),
        max_orders_per_day=draw(limit("max_orders_per_day", st.integers(1, 12))),
        max_open_positions=draw(limit("max_open_positions", st.just(1))),
    )
    return returns, script, config


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


#: Found by a long run: a flip cut by max_order_notional to 300 / 100.0000000001 shares left
#: 3e-12 shares short, and the next orders traded that dust.
DUST = (
    [[0.0, 0.0]] * 37 + [[1e-12, 0.0], [0.0, 0.0], [0.03125, 0.0], [0.0, 0.0]],
    [{}] * 36
    + [
        {"A": ("percent", -1.0, None)},
        {"A": ("quantity", 40.0, None)},
        {"A": ("percent", 1.0, None)},
        {"A": ("percent", 0.0, None)},
        {},
    ],
    RiskConfig(max_order_notional=300.0),
)


@pytest.mark.parametrize("focus", [None, *LIMITS])
def test_no_limit_is_ever_breached_and_every_refusal_is_logged(focus: str | None) -> None:
    bound: dict[str, int] = dict.fromkeys(LIMITS, 0)
    examples = [0]

    @settings(
        max_examples=50 if focus is None else 10,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),  # timing checks misfire on a loaded machine
    )
    @given(scenarios(focus))
    def check(scenario: tuple) -> None:
        returns, script, config = scenario
        bars = _bars(returns)
        strategy = Scripted(script)
        spy = Spy(config)
        handler = _Records()
        logger = logging.getLogger("workbench.risk")
        logger.addHandler(handler)
        old_level = logger.level
        logger.setLevel(logging.INFO)
        try:
            result = Engine(strategy, bars, BacktestConfig(cash=CASH), risk=spy).run()
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        _check_reasons(result, spy, handler.records)
        _check_limits(result, strategy, config, bars)
        events = result.risk_events
        examples[0] += 1
        for rule in set(events.loc[events["action"].isin(BINDING), "rule"]) & set(LIMITS):
            bound[rule] += 1

    if focus is None:
        check = example(DUST)(check)
    check()
    if focus is not None:
        assert bound[focus] * 10 >= examples[0], f"{focus} bound in {bound[focus]} of {examples[0]}"


def _check_reasons(result: Any, spy: Spy, records: list[logging.LogRecord]) -> None:
    events = result.risk_events
    logged = [(r.rule, r.action, r.reason) for r in records]
    assert logged == list(zip(events["rule"], events["action"], events["reason"], strict=True))
    assert all(r.getMessage() == f"{r.action}: {r.rule}: {r.reason}" for r in records)
    assert all(any(c.isdigit() for c in reason) for reason in events["reason"])
    decided = events[events["action"].isin(["refused", "resized"])]
    for time, asked, passed in spy.calls:
        for sym, side, q in asked:
            sent = sum(pq for ps, pside, pq in passed if (ps, pside) == (sym, side))
            if sent < q * (1 - 1e-9) - 1e-9:
                here = decided[(decided["time"] == time) & (decided["symbol"] == sym)]
                assert len(here), f"{side} {q} {sym} at {time} was cut without a logged reason"


def _check_limits(result: Any, strategy: Scripted, config: RiskConfig, bars: dict) -> None:
    times = result.equity.index
    equity = result.equity.to_numpy()
    close = {s: bars[s]["close"].to_numpy() for s in SYMBOLS}
    fills = result.fills.merge(
        result.orders[["id", "created_at"]], left_on="order_id", right_on="id"
    )
    strategy_orders = result.orders[~result.orders["reason"].str.startswith("risk=")]
    pos = dict.fromkeys(SYMBOLS, 0.0)
    halt_at = _first_halt(equity, config.max_drawdown)
    locked = _daily_locks(times, equity, config.daily_loss_limit)
    halted_events = result.risk_events[result.risk_events["action"] == "halted"]
    if halt_at is None:
        assert halted_events.empty
    else:
        assert list(halted_events["time"]) == [times[halt_at]]
        assert (pd.to_datetime(strategy_orders["created_at"], utc=True) < times[halt_at]).all()
    over_limit: set = set()  # orders past the day's limit: exits only
    if config.max_orders_per_day is not None:
        created = pd.to_datetime(strategy_orders["created_at"], utc=True)
        # per day of the engine's clock (New York's, the default calendar's), in the order sent
        nth = created.groupby(created.dt.tz_convert("America/New_York").dt.date).cumcount()
        over_limit = set(strategy_orders["id"][(nth >= config.max_orders_per_day).to_numpy()])

    for k in range(1, len(times)):
        before = dict(pos)
        for f in fills[fills["time"] == times[k]].itertuples():
            old = pos[f.symbol]
            new = old + (f.quantity if f.side == "buy" else -f.quantity)
            pos[f.symbol] = new
            grows = abs(new) > abs(old) + TOL or (old * new < 0)
            if f.reason.startswith("risk="):
                assert abs(new) < abs(old) + TOL
                continue
            if f.order_id in over_limit:
                assert not grows, f"{f.order_id} past the day's order limit opened or added"
            if grows and config.max_order_notional is not None:
                assert f.quantity * f.price <= config.max_order_notional * (1 + TOL)
            if grows:
                assert not locked[k - 1], f"entry decided at {times[k - 1]} during a daily lock"
        if halt_at is not None and k > halt_at:
            assert all(abs(q) < TOL for q in pos.values()), "positions left after a halt"
        eq = equity[k - 1]
        value = {s: abs(pos[s]) * close[s][k - 1] for s in SYMBOLS}
        if config.max_open_positions is not None:
            assert sum(abs(q) > TOL for q in pos.values()) <= config.max_open_positions
        for s in SYMBOLS:
            if not (abs(pos[s]) > abs(before[s]) + TOL or pos[s] * before[s] < 0):
                continue
            _check_symbol(s, k, pos, value, eq, config, strategy, bars)


def _check_symbol(s, k, pos, value, eq, config, strategy, bars) -> None:
    cap = eq * (1 + TOL) + TOL
    sizing = config.position_sizing
    if sizing is not None:
        if sizing.max_position_notional is not None:
            assert value[s] <= sizing.max_position_notional * (1 + TOL)
        if sizing.max_position_fraction is not None:
            assert value[s] <= sizing.max_position_fraction * cap
        if sizing.risk_per_trade is not None:
            price = bars[s]["close"].iloc[k - 1]
            stop = strategy.stops[(k - 1, s)]
            if stop is None:
                f = bars[s].iloc[:k]
                a = atr(
                    f["high"].to_numpy(),
                    f["low"].to_numpy(),
                    f["close"].to_numpy(),
                    sizing.atr_period,
                )[-1]
                assert math.isfinite(a), "an entry passed before the ATR was ready"
                per_unit = sizing.atr_multiple * a
            else:
                per_unit = math.copysign(1, pos[s]) * (price - stop)
            assert per_unit > 0
            assert abs(pos[s]) * per_unit <= sizing.risk_per_trade * cap
    if config.group_exposure is not None:
        assert sum(value.values()) <= config.group_exposure.limits["g"] * cap
    corr = config.correlation
    if corr is not None:
        together = value[s]
        for other in SYMBOLS:
            if other != s and abs(pos[other]) > TOL:
                r = pd.concat([bars[s]["close"].iloc[:k], bars[other]["close"].iloc[:k]], axis=1)
                r = r.pct_change().iloc[1:].tail(corr.lookback)
                enough = len(r) >= corr.periods and r.std().min() > 0
                if enough and r.corr().iloc[0, 1] > corr.threshold:
                    together += value[other]
        assert together <= corr.max_fraction * cap


def _first_halt(equity: np.ndarray, limit: float | None) -> int | None:
    if limit is None:
        return None
    peak = np.maximum.accumulate(equity)
    hit = np.nonzero((peak - equity) / peak >= limit - 1e-12)[0]
    return int(hit[0]) if len(hit) else None


def _daily_locks(times: pd.DatetimeIndex, equity: np.ndarray, limit: float | None) -> list[bool]:
    """Bars whose decisions fall in a daily-loss lock (from the breach to the end of its day)."""
    locked = [False] * len(times)
    if limit is None:
        return locked
    days = times.tz_convert("America/New_York").tz_localize(None).normalize()  # the engine's
    for k in range(len(times)):
        first = np.searchsorted(days, days[k])
        start = equity[first - 1] if first > 0 else equity[0]
        if (start - equity[k]) / start > limit + 1e-12:
            j = k
            while j < len(times) and days[j] == days[k]:
                locked[j] = True
                j += 1
    return locked
