"""Each order rule, table-driven, against a real account; numbers computed by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

from workbench.data.days import TradingDays
from workbench.execution.targets import orders_for_target
from workbench.intents import Intent, OrderIntent, TargetIntent
from workbench.orders import OrderRequest, OrderType, Side
from workbench.risk import (
    Correlation,
    FrameMarket,
    GroupExposure,
    MemoryRiskStore,
    PositionSizing,
    RiskConfig,
    RiskEngine,
    RiskState,
    TradingState,
)
from workbench.sim.broker import SimulatedBroker

T0 = pd.Timestamp("2024-03-04 15:00", tz="UTC")


def target(symbol: str = "X", **kwargs: float) -> TargetIntent:
    return TargetIntent(symbol, T0, **kwargs)


def order(side: str, quantity: float, symbol: str = "X", **kwargs: object) -> OrderIntent:
    return OrderIntent(OrderRequest(symbol, Side(side), quantity=quantity, **kwargs), T0)


def sent(out: Sequence[Intent], acct: SimulatedBroker, market: FrameMarket) -> list[tuple]:
    """(side, quantity) of every order the approved intents send, notional orders converted
    at the decision price, the way execution resolves them."""
    rows = []
    for intent in out:
        if isinstance(intent, TargetIntent):
            requests = orders_for_target(
                intent,
                position=acct.portfolio.quantity(intent.symbol),
                price=market.price(intent.symbol),
                equity=acct.portfolio.equity,
            )
        elif isinstance(intent, OrderIntent):
            requests = [intent.request]
        else:
            continue
        for r in requests:
            q = r.quantity if r.quantity is not None else r.notional / market.price(r.symbol)
            rows.append((str(r.side), round(q, 9)))
    return rows


def run(
    config: RiskConfig, acct: SimulatedBroker, market: FrameMarket, *intents: Intent
) -> tuple[list[tuple], RiskEngine]:
    engine = RiskEngine(config)
    out = engine.check(list(intents), T0, acct, market)
    return sent(out, acct, market), engine


def assert_event(engine: RiskEngine, action: str | None, rule: str, fragment: str | None) -> None:
    decisions = [e for e in engine.events if str(e.action) in ("refused", "resized")]
    if action is None:
        assert decisions == []
        return
    assert [(str(e.action), e.rule) for e in decisions] == [(action, rule)]
    assert fragment in decisions[0].reason, decisions[0].reason


RISK_1PCT = PositionSizing(risk_per_trade=0.01)

SIZING = [
    # (case, sizing, positions, target kwargs, action, sent, reason fragment)
    (
        "brief example: 1% of 10,000 over 5 to the stop is 20",
        RISK_1PCT,
        {},
        {"percent": 1.0, "stop": 95.0},
        "resized",
        [("buy", 20.0)],
        "risk 1.0% of equity 10,000.00 = 100.00 at 5.00 per unit to the stop 95.00 allows 20",
    ),
    (
        "inside the risk budget: unchanged",
        RISK_1PCT,
        {},
        {"percent": 0.1, "stop": 98.0},
        None,
        [("buy", 10.0)],
        None,
    ),
    (
        "no stop: 2 x ATR(14) = 4 below the entry, 100 / 4 = 25",
        PositionSizing(risk_per_trade=0.01, atr_period=14, atr_multiple=2.0),
        {},
        {"percent": 1.0},
        "resized",
        [("buy", 25.0)],
        "at 4.00 per unit to the stop 96.00 (2 x ATR(14) 2.00) allows 25",
    ),
    (
        "short: the stop above the entry",
        RISK_1PCT,
        {},
        {"percent": -1.0, "stop": 105.0},
        "resized",
        [("sell", 20.0)],
        "at 5.00 per unit to the stop 105.00 allows 20",
    ),
    (
        "stop on the wrong side of a long",
        RISK_1PCT,
        {},
        {"percent": 1.0, "stop": 105.0},
        "refused",
        [],
        "stop 105.00 is not below the entry 100.00 of a long position",
    ),
    (
        "position value cap",
        PositionSizing(max_position_notional=3_000.0),
        {},
        {"percent": 1.0},
        "resized",
        [("buy", 30.0)],
        "position value cap 3,000.00 allows 30",
    ),
    (
        "position fraction cap",
        PositionSizing(max_position_fraction=0.25),
        {},
        {"percent": 1.0},
        "resized",
        [("buy", 25.0)],
        "position cap 25.0% of equity 10,000.00 allows 25",
    ),
    (
        "the tightest cap wins",
        PositionSizing(risk_per_trade=0.01, max_position_notional=1_500.0),
        {},
        {"percent": 1.0, "stop": 95.0},
        "resized",
        [("buy", 15.0)],
        "position value cap 1,500.00 allows 15",
    ),
    (
        "adding to 15 held: only the 5 left under the cap of 20",
        RISK_1PCT,
        {"X": (15.0, 100.0)},
        {"percent": 1.0, "stop": 95.0},
        "resized",
        [("buy", 5.0)],
        "would hold 100",
    ),
    (
        "already over the cap: nothing more",
        RISK_1PCT,
        {"X": (30.0, 100.0)},
        {"percent": 1.0, "stop": 95.0},
        "refused",
        [],
        "allows 20",
    ),
    (
        "reducing passes whatever the caps",
        RISK_1PCT,
        {"X": (30.0, 100.0)},
        {"percent": 0.1, "stop": 95.0},
        None,
        [("sell", 20.0)],
        None,
    ),
]


@pytest.mark.parametrize(
    ("sizing", "positions", "kwargs", "action", "expected", "fragment"),
    [case[1:] for case in SIZING],
    ids=[case[0] for case in SIZING],
)
def test_position_sizing(
    account: Callable, market: Callable, sizing, positions, kwargs, action, expected, fragment
) -> None:
    acct = account(10_000.0, positions)
    mkt = market({"X": 100.0})
    assert acct.get_account().equity == pytest.approx(10_000.0)
    got, engine = run(RiskConfig(position_sizing=sizing), acct, mkt, target(**kwargs))
    assert got == expected
    assert_event(engine, action, "position_sizing", fragment)


def test_position_sizing_refuses_entries_while_the_atr_warms_up(
    account: Callable, bars: Callable
) -> None:
    mkt = FrameMarket({"X": bars(100.0, n=5)}, T0)
    got, engine = run(
        RiskConfig(position_sizing=RISK_1PCT), account(10_000.0), mkt, target(percent=1.0)
    )
    assert got == []
    assert_event(
        engine, "refused", "position_sizing", "no stop given and ATR(14) is not ready (5 bars of X)"
    )


def test_position_sizing_uses_the_protective_stop_of_an_explicit_order(
    account: Callable, market: Callable
) -> None:
    intent = OrderIntent(OrderRequest("X", Side.BUY, quantity=50.0), T0, stop=90.0)
    got, engine = run(
        RiskConfig(position_sizing=RISK_1PCT), account(10_000.0), market({"X": 100.0}), intent
    )
    assert got == [("buy", 10.0)]  # 100 at risk / 10 per unit
    assert_event(engine, "resized", "position_sizing", "buy 50 -> 10")


def test_a_limit_order_is_judged_at_its_limit_price(account: Callable, market: Callable) -> None:
    # entry 80 (the limit), stop 76: 100 / 4 = 25
    intent = OrderIntent(
        OrderRequest("X", Side.BUY, quantity=100.0, type=OrderType.LIMIT, limit_price=80.0),
        T0,
        stop=76.0,
    )
    got, _ = run(
        RiskConfig(position_sizing=RISK_1PCT), account(10_000.0), market({"X": 100.0}), intent
    )
    assert got == [("buy", 25.0)]


ORDER_CAPS = [
    # (case, config, positions, intents, sent, action, rule, fragment)
    (
        "order value over the cap is cut to it",
        RiskConfig(max_order_notional=2_500.0),
        {},
        [order("buy", 40.0)],
        [("buy", 25.0)],
        "resized",
        "max_order_notional",
        "order buy 40 X at 100.00 = 4,000.00 > limit 2,500.00",
    ),
    (
        "a reducing order is not capped",
        RiskConfig(max_order_notional=2_500.0),
        {"X": (50.0, 100.0)},
        [order("sell", 40.0)],
        [("sell", 40.0)],
        None,
        "",
        None,
    ),
    (
        "the third order of the day is refused",
        RiskConfig(max_orders_per_day=2),
        {},
        [order("buy", 1.0), order("buy", 1.0), order("sell", 1.0)],
        [("buy", 1.0), ("buy", 1.0)],
        "refused",
        "max_orders_per_day",
        "2 orders sent on 2024-03-04 (UTC) >= limit 2",
    ),
    (
        "past the day's order limit exits pass and a flip is cut to its close",
        RiskConfig(max_orders_per_day=1),
        {"X": (10.0, 100.0)},
        [order("buy", 1.0), order("sell", 5.0), order("sell", 20.0)],
        [("buy", 1.0), ("sell", 5.0), ("sell", 5.0)],
        "resized",
        "max_orders_per_day",
        "2 orders sent on 2024-03-04 (UTC) >= limit 1",
    ),
    (
        "a third symbol is refused at 2 open positions",
        RiskConfig(max_open_positions=2),
        {"A": (10.0, 100.0), "B": (10.0, 100.0)},
        [order("buy", 5.0, "C"), order("buy", 5.0, "A")],
        [("buy", 5.0)],
        "refused",
        "max_open_positions",
        "2 positions open or pending >= limit 2; C would open one more",
    ),
    (
        "an approved entry counts at once for the next",
        RiskConfig(max_open_positions=2),
        {"A": (10.0, 100.0)},
        [order("buy", 5.0, "B"), order("buy", 5.0, "C")],
        [("buy", 5.0)],
        "refused",
        "max_open_positions",
        "C would open one more",
    ),
]


@pytest.mark.parametrize(
    ("config", "positions", "intents", "expected", "action", "rule", "fragment"),
    [case[1:] for case in ORDER_CAPS],
    ids=[case[0] for case in ORDER_CAPS],
)
def test_order_caps(
    account: Callable,
    market: Callable,
    config,
    positions,
    intents,
    expected,
    action,
    rule,
    fragment,
) -> None:
    acct = account(10_000.0, positions)
    got, engine = run(config, acct, market(dict.fromkeys("XABC", 100.0)), *intents)
    assert got == expected
    assert_event(engine, action, rule, fragment)


def test_a_working_order_counts_as_an_open_position(account: Callable, market: Callable) -> None:
    acct = account(
        10_000.0,
        {"A": (10.0, 100.0)},
        orders=[OrderRequest("B", Side.BUY, quantity=5.0, type=OrderType.LIMIT, limit_price=90.0)],
    )
    got, engine = run(
        RiskConfig(max_open_positions=2),
        acct,
        market(dict.fromkeys("ABC", 100.0)),
        order("buy", 1.0, "C"),
    )
    assert got == []
    assert_event(engine, "refused", "max_open_positions", "2 positions open or pending")


OCO_EXITS = OrderRequest(
    "X",
    Side.SELL,
    quantity=10.0,
    type=OrderType.LIMIT,
    limit_price=120.0,
    order_class="oco",
    take_profit=120.0,
    stop_loss=90.0,
)
REDUCING = RiskState(TradingState.REDUCING, reason="daily loss", rule="daily_loss_limit")


@pytest.mark.parametrize(
    ("config", "state"),
    [
        (RiskConfig(daily_loss_limit=0.05), REDUCING),
        (RiskConfig(position_sizing=PositionSizing(max_position_fraction=0.05)), None),
        (RiskConfig(position_sizing=RISK_1PCT), None),
        (RiskConfig(max_order_notional=500.0), None),
        (RiskConfig(max_orders_per_day=1), None),
    ],
    ids=["reducing", "position cap", "risk per trade", "order value", "orders per day"],
)
def test_a_positions_own_exits_never_trap_it(
    account: Callable, market: Callable, config: RiskConfig, state: RiskState | None
) -> None:
    """Long 10 X with its oco take-profit and stop-loss working (two sell legs of 10): the
    legs only ever reduce the long, so closing it is an exit, not a short of 10 or 20."""
    acct = account(10_000.0, {"X": (10.0, 100.0)}, [OCO_EXITS])
    assert len(acct.get_open_orders()) == 2
    engine = RiskEngine(config, MemoryRiskStore(state))
    mkt = market({"X": 100.0, "Y": 100.0})
    out = engine.check([order("buy", 1.0, "Y"), target(quantity=0.0)], T0, acct, mkt)
    assert sent(out[-1:], acct, mkt) == [("sell", 10.0)]
    assert [e for e in engine.events if e.symbol == "X"] == []


def test_separate_exits_of_a_held_position_all_pass(account: Callable, market: Callable) -> None:
    """A stop-loss and a take-profit sent as an oco group for a held long, while only exits
    may pass: the first exit approved is not a short for the second to add to."""
    acct = account(10_000.0, {"X": (10.0, 100.0)})
    engine = RiskEngine(RiskConfig(daily_loss_limit=0.05), MemoryRiskStore(REDUCING))
    exits = [
        order("sell", 10.0, type=OrderType.STOP, stop_price=90.0, oco_group="x"),
        order("sell", 10.0, type=OrderType.LIMIT, limit_price=120.0, oco_group="x"),
    ]
    assert engine.check(exits, T0, acct, market({"X": 100.0})) == exits
    assert engine.events == []


def test_orders_per_day_count_resets_on_the_next_utc_day(
    account: Callable, market: Callable
) -> None:
    """On UTC days (a 24/7 calendar's): New York's are test_risk_day.py's."""
    engine = RiskEngine(RiskConfig(max_orders_per_day=1), days=TradingDays("UTC"))
    acct, mkt = account(10_000.0), market({"X": 100.0})
    assert len(engine.check([order("buy", 1.0)], T0, acct, mkt)) == 1
    assert engine.check([order("buy", 1.0)], T0 + pd.Timedelta(hours=8), acct, mkt) == []
    next_day = pd.Timestamp("2024-03-05 00:00", tz="UTC")
    assert len(engine.check([order("buy", 1.0)], next_day, acct, mkt)) == 1
    assert engine.state.orders_today == 1


TECH = GroupExposure(
    groups={"AAPL": "tech", "MSFT": "tech", "XOM": "energy"}, limits={"tech": 0.30, "energy": 0.5}
)
GROUPS = [
    # (case, positions, intent, sent, action, fragment)
    (
        "tech holds 20%: a new tech order gets the 10% left",
        {"AAPL": (20.0, 100.0)},
        order("buy", 20.0, "MSFT"),
        [("buy", 10.0)],
        "resized",
        "group tech would hold 4,000.00 = 40.0% of equity 10,000.00 > limit 30.0%",
    ),
    (
        "tech full at 30%: new tech orders blocked",
        {"AAPL": (30.0, 100.0)},
        order("buy", 1.0, "MSFT"),
        [],
        "refused",
        "group tech would hold 3,100.00",
    ),
    (
        "a short counts gross",
        {"AAPL": (-25.0, 100.0)},
        order("buy", 10.0, "MSFT"),
        [("buy", 5.0)],
        "resized",
        "group tech",
    ),
    (
        "another group is not affected",
        {"AAPL": (30.0, 100.0)},
        order("buy", 10.0, "XOM"),
        [("buy", 10.0)],
        None,
        None,
    ),
    (
        "a symbol in no group is not affected",
        {"AAPL": (30.0, 100.0)},
        order("buy", 10.0, "IBM"),
        [("buy", 10.0)],
        None,
        None,
    ),
    (
        "selling tech is always allowed",
        {"AAPL": (40.0, 100.0)},
        order("sell", 10.0, "AAPL"),
        [("sell", 10.0)],
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("positions", "intent", "expected", "action", "fragment"),
    [case[1:] for case in GROUPS],
    ids=[case[0] for case in GROUPS],
)
def test_group_exposure(
    account: Callable, market: Callable, positions, intent, expected, action, fragment
) -> None:
    acct = account(10_000.0, positions)
    mkt = market(dict.fromkeys(("AAPL", "MSFT", "XOM", "IBM"), 100.0))
    got, engine = run(RiskConfig(group_exposure=TECH), acct, mkt, intent)
    assert got == expected
    assert_event(engine, action, "group_exposure", fragment)


def _walk(seed: int, n: int) -> np.ndarray:
    r = np.random.default_rng(seed).normal(0, 0.01, n)
    return np.exp(np.cumsum(r))


def _frame(close: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1e6},
        index=index,
    )


@pytest.fixture
def correlated() -> FrameMarket:
    """A and B move together up to T0 (corr 1) and opposite after it; C is independent.
    Every close at T0 is 100."""
    index = pd.date_range(end=T0, periods=100, freq="D", tz="UTC").append(
        pd.date_range(T0 + pd.Timedelta(days=1), periods=50, freq="D", tz="UTC")
    )
    past = _walk(1, 100)
    a = np.concatenate([past / past[-1] * 100, 100 * _walk(2, 50)])
    b = a.copy()
    b[100:] = 100 * 100 / a[100:]  # anti-correlated after T0: must not matter
    c = _walk(3, 150)
    c = c / c[99] * 100
    return FrameMarket({s: _frame(x, index) for s, x in zip("ABC", (a, b, c), strict=True)}, T0)


CORR = Correlation(lookback=60, threshold=0.8, max_fraction=0.4)


def test_correlated_symbols_share_one_cap(account: Callable, correlated: FrameMarket) -> None:
    acct = account(10_000.0, {"A": (30.0, 100.0)})
    got, engine = run(RiskConfig(correlation=CORR), acct, correlated, order("buy", 30.0, "B"))
    assert got == [("buy", 10.0)]  # 40% of 10,000 less the 3,000 in A
    assert_event(
        engine, "resized", "correlation", "B with A (corr 1.00) would hold 6,000.00 = 60.0%"
    )


def test_an_uncorrelated_symbol_is_capped_alone(account: Callable, correlated: FrameMarket) -> None:
    acct = account(10_000.0, {"A": (30.0, 100.0)})
    got, engine = run(RiskConfig(correlation=CORR), acct, correlated, order("buy", 50.0, "C"))
    assert got == [("buy", 40.0)]
    assert_event(engine, "resized", "correlation", "C alone would hold 5,000.00")


def test_correlation_uses_only_returns_up_to_now(correlated: FrameMarket) -> None:
    from workbench.risk.book import Book

    book = Book(T0, SimulatedBroker(1.0), correlated, RiskEngine().state)
    assert book.correlation("A", "B", 60, 60) == pytest.approx(1.0)
    later = FrameMarket(correlated.bars, T0 + pd.Timedelta(days=50))
    book = Book(T0, SimulatedBroker(1.0), later, RiskEngine().state)
    assert book.correlation("A", "B", 40, 40) < -0.9


def test_too_little_history_counts_as_uncorrelated(
    account: Callable, correlated: FrameMarket
) -> None:
    short = {s: f.loc[:T0].iloc[-10:] for s, f in correlated.bars.items()}  # 9 returns < 60
    acct = account(10_000.0, {"A": (30.0, 100.0)})
    got, _ = run(
        RiskConfig(correlation=CORR), acct, FrameMarket(short, T0), order("buy", 30.0, "B")
    )
    assert got == [("buy", 30.0)]
    enough = Correlation(lookback=60, threshold=0.8, max_fraction=0.4, min_periods=9)
    got, _ = run(
        RiskConfig(correlation=enough), acct, FrameMarket(short, T0), order("buy", 30.0, "B")
    )
    assert got == [("buy", 10.0)]


def test_a_cut_that_almost_closes_a_position_closes_it(account: Callable, market: Callable) -> None:
    """Short 3 at 100.0000000001, buy 43 under a 300 cap: 300 / price is 2.999999999997, which
    would leave 3e-12 shares short; the order closes the 3 exactly (found by the property
    test)."""
    price = 100.0000000001
    acct = account(10_000.0, {"X": (-3.0, price)})
    engine = RiskEngine(RiskConfig(max_order_notional=300.0))
    out = engine.check([order("buy", 43.0)], T0, acct, market({"X": price}))
    assert [i.request.quantity for i in out] == [3.0]


@pytest.mark.parametrize(
    ("held", "side", "quantity", "increases", "cut_to", "after_cut"),
    [
        (0.0, "buy", 5.0, True, 2.0, True),  # opens: still opens when cut
        (5.0, "sell", 3.0, False, 1.0, False),  # reduces
        (5.0, "sell", 8.0, True, 5.0, False),  # flips; cut to the part that closes
        (-4.0, "buy", 4.0, False, 4.0, False),  # closes a short exactly
    ],
)
def test_a_proposal_knows_whether_it_increases_and_a_resize_says_it_again(
    account: Callable, market: Callable, held, side, quantity, increases, cut_to, after_cut
) -> None:
    """``increases`` is worked out when the proposal is made and again when it is resized
    (the caps ask it of the resized order): the reducing part of a flip no longer adds."""
    from workbench.risk.book import Book

    acct = account(10_000.0, {"X": (held, 100.0)} if held else None)
    book = Book(T0, acct, market({"X": 100.0}), RiskState())
    p = book.proposal(OrderRequest("X", Side(side), quantity=quantity), None)
    assert p.increases is increases
    assert p.resized(cut_to).increases is after_cut
