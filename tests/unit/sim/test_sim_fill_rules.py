"""The fill rules of :mod:`workbench.sim.fills`, one table per rule, through the broker.

Each row: an order, the bar after the one it was submitted on (open, high, low, close),
and the fill price expected on that bar, or None for no fill.
"""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.orders import OrderRequest, OrderStatus, OrderType, Side
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Slippage
from workbench.sim.fills import match, pessimistic

T0 = pd.Timestamp("2024-01-02", tz="UTC")
DAY = pd.Timedelta(days=1)
BUY, SELL = Side.BUY, Side.SELL
NO_SLIPPAGE = Slippage()


def order(
    side: Side, kind: str = "market", *, limit: float | None = None, stop: float | None = None
) -> OrderRequest:
    return OrderRequest(
        "X", side, quantity=1.0, type=OrderType(kind), limit_price=limit, stop_price=stop
    )


def fill_prices(
    request: OrderRequest,
    bars: list[tuple[float, float, float, float]],
    slippage: Slippage = NO_SLIPPAGE,
) -> list[float | None]:
    """Submit ``request`` at T0, then feed ``bars`` from T0 + 1 day: the fill price on each."""
    broker = SimulatedBroker(1_000_000.0, slippage=slippage)
    broker.set_time(T0)
    broker.submit_order(request)
    prices: list[float | None] = []
    for i, (o, h, low, c) in enumerate(bars, start=1):
        updates = broker.process_bar("X", T0 + i * DAY, o, h, low, c, 1_000.0)
        filled = [u.fill.price for u in updates if u.fill is not None]
        prices.append(filled[0] if filled else None)
    return prices


def fill_price(request: OrderRequest, bar: tuple[float, float, float, float], **kw) -> float | None:
    return fill_prices(request, [bar], **kw)[0]


MARKET = [
    # order, (open, high, low, close), slippage, expected
    (order(BUY), (100, 101, 98, 99), Slippage(), 100.0),
    (order(SELL), (100, 101, 98, 99), Slippage(), 100.0),
    (order(BUY), (100, 101, 98, 99), Slippage(bps=10), 100.1),
    (order(SELL), (100, 101, 98, 99), Slippage(bps=10), 99.9),
    (order(BUY), (100, 102, 98, 99), Slippage(range_fraction=0.1), 100.4),  # + 0.1 * (102 - 98)
    (order(SELL), (100, 102, 98, 99), Slippage(range_fraction=0.1), 99.6),
    (order(BUY), (100, 102, 98, 99), Slippage(bps=10, range_fraction=0.1), 100.5),
]


@pytest.mark.parametrize(("request_", "bar", "slippage", "expected"), MARKET)
def test_market_fills_at_the_next_open_plus_slippage(request_, bar, slippage, expected) -> None:
    assert fill_price(request_, bar, slippage=slippage) == pytest.approx(expected)


LIMIT = [
    (order(BUY, "limit", limit=99), (100, 101, 98, 100), 99.0),
    (order(BUY, "limit", limit=99), (97, 98, 96, 97), 97.0),  # gap down through the limit: the open
    (order(BUY, "limit", limit=99), (100, 101, 99, 100), 99.0),  # touched
    (order(BUY, "limit", limit=99), (100, 101, 99.5, 100), None),  # not reached
    (order(SELL, "limit", limit=101), (100, 102, 99, 100), 101.0),
    (order(SELL, "limit", limit=101), (103, 104, 102, 103), 103.0),  # gap up: the open
    (order(SELL, "limit", limit=101), (100, 100.5, 99, 100), None),
]


@pytest.mark.parametrize(("request_", "bar", "expected"), LIMIT)
def test_limit(request_, bar, expected) -> None:
    assert fill_price(request_, bar) == pytest.approx(expected)
    # a limit is a price guarantee: never slipped
    assert fill_price(
        request_, bar, slippage=Slippage(bps=50, range_fraction=0.5)
    ) == pytest.approx(expected)


STOP = [
    (order(BUY, "stop", stop=101), (100, 102, 99, 101), Slippage(), 101.0),
    (order(BUY, "stop", stop=101), (103, 104, 102, 103), Slippage(), 103.0),  # gap up: the open
    (order(BUY, "stop", stop=101), (100, 100.9, 99, 100), Slippage(), None),
    (order(SELL, "stop", stop=99), (100, 101, 98, 99), Slippage(), 99.0),
    (order(SELL, "stop", stop=99), (97, 98, 96, 97), Slippage(), 97.0),  # gap down: the open
    (order(SELL, "stop", stop=99), (100, 101, 99.1, 100), Slippage(), None),
    (order(BUY, "stop", stop=101), (100, 102, 99, 101), Slippage(bps=10), 101.101),
    (order(SELL, "stop", stop=99), (100, 101, 98, 99), Slippage(bps=10), 98.901),
]


@pytest.mark.parametrize(("request_", "bar", "slippage", "expected"), STOP)
def test_stop(request_, bar, slippage, expected) -> None:
    assert fill_price(request_, bar, slippage=slippage) == pytest.approx(expected)


STOP_LIMIT = [
    # buy stop 101: gap to 103 triggers at the open, which is within the limit 104
    (order(BUY, "stop_limit", stop=101, limit=104), (103, 105, 102, 104), 103.0),
    # gap beyond the limit 102, the bar comes back down to it: the limit
    (order(BUY, "stop_limit", stop=101, limit=102), (103, 104, 101.5, 103), 102.0),
    # gap beyond the limit, never back to it: no fill
    (order(BUY, "stop_limit", stop=101, limit=102), (103, 104, 102.5, 103), None),
    # triggered intrabar at the stop, which is within the limit: the stop
    (order(BUY, "stop_limit", stop=101, limit=102), (100, 103, 99, 102), 101.0),
    # triggered intrabar but stop > limit: unknown path inside the bar, so no fill (pessimistic)
    (order(BUY, "stop_limit", stop=101, limit=100.5), (100, 102, 99.8, 101), None),
    (order(BUY, "stop_limit", stop=101, limit=102), (100, 100.9, 99, 100), None),  # not triggered
    # sells mirror
    (order(SELL, "stop_limit", stop=99, limit=98), (100, 101, 98.5, 99), 99.0),
    (order(SELL, "stop_limit", stop=99, limit=96), (97, 98, 96, 97), 97.0),
    (order(SELL, "stop_limit", stop=99, limit=98), (97, 98.5, 96, 97), 98.0),
    (order(SELL, "stop_limit", stop=99, limit=98), (97, 97.5, 96, 97), None),
    (order(SELL, "stop_limit", stop=99, limit=99.5), (100, 100.2, 98, 99), None),
]


@pytest.mark.parametrize(("request_", "bar", "expected"), STOP_LIMIT)
def test_stop_limit_on_the_trigger_bar(request_, bar, expected) -> None:
    assert fill_price(request_, bar) == pytest.approx(expected)
    assert fill_price(request_, bar, slippage=Slippage(bps=50)) == pytest.approx(expected)


STOP_LIMIT_SEQUENCES = [
    # stop > limit, triggered intrabar: rests as a limit and fills at the next bar that reaches it
    (
        order(BUY, "stop_limit", stop=101, limit=100.5),
        [(100, 102, 99.8, 101), (100.2, 101, 100, 100.5)],
        [None, 100.2],
    ),
    # the triggered state persists although later bars never reach the stop again
    (
        order(BUY, "stop_limit", stop=101, limit=100.5),
        [(100, 102, 100.8, 101.5), (101.5, 102, 101, 101.2), (100.8, 100.9, 100.3, 100.4)],
        [None, None, 100.5],
    ),
    (
        order(SELL, "stop_limit", stop=99, limit=99.5),
        [(100, 100.2, 98, 99), (99, 99.6, 98.8, 99.4)],
        [None, 99.5],
    ),
    # a limit never triggers anything: not reached, then reached
    (order(BUY, "limit", limit=99), [(100, 101, 99.5, 100), (99.5, 100, 98.5, 99)], [None, 99.0]),
]


@pytest.mark.parametrize(("request_", "bars", "expected"), STOP_LIMIT_SEQUENCES)
def test_a_triggered_stop_limit_rests_as_a_limit(request_, bars, expected) -> None:
    assert fill_prices(request_, bars) == pytest.approx(expected)


def test_never_filled_on_the_bar_it_was_submitted_on() -> None:
    broker = SimulatedBroker(10_000.0)
    broker.set_time(T0)
    placed = broker.submit_order(order(BUY))
    assert placed.created_at == T0
    assert broker.process_bar("X", T0, 100, 101, 99, 100, 1_000) == []  # its own bar: no fill
    assert broker.get_order(placed.id).status is OrderStatus.NEW
    (update,) = broker.process_bar("X", T0 + DAY, 102, 103, 101, 102, 1_000)
    assert update.fill is not None and update.fill.price == 102.0 and update.fill.time == T0 + DAY


def test_match_is_a_pure_rule_with_the_trigger_state() -> None:
    broker = SimulatedBroker(10_000.0)
    broker.set_time(T0)
    placed = broker.submit_order(order(BUY, "stop_limit", stop=101, limit=100.5))
    first = match(placed, 100, 102, 99.8, 101, triggered=False)
    assert first is not None and first.price is None and first.triggered
    assert match(placed, 100, 100.9, 100, 100.5, triggered=False) is None
    later = match(placed, 100.2, 101, 100, 100.5, triggered=True)
    assert later is not None and later.price == 100.2


# candidates (side, price) -> index of the pessimistic one
PESSIMISTIC = [
    ([(SELL, 95.0), (SELL, 105.0)], 0),  # protective stop below the take-profit
    ([(SELL, 105.0), (SELL, 95.0)], 1),
    ([(BUY, 95.0), (BUY, 105.0)], 1),  # a short's exits: the highest buy price
    ([(SELL, 100.0), (SELL, 100.0)], 0),  # a tie: the earlier order
]


@pytest.mark.parametrize(("candidates", "expected"), PESSIMISTIC)
def test_pessimistic_choice(candidates, expected) -> None:
    assert pessimistic(candidates) == expected
