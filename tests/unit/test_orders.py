"""The order lifecycle: every allowed transition, a sample of forbidden ones, and fills."""

from __future__ import annotations

import dataclasses
import itertools

import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.lifecycle import TRANSITIONS, InvalidTransition, apply_fill, transition
from workbench.orders import (
    TERMINAL,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

T = pd.Timestamp("2024-01-02", tz="UTC")
S = OrderStatus


def order(status: OrderStatus = S.NEW, qty: float = 10.0) -> Order:
    return Order("o-1", OrderRequest("X", Side.BUY, quantity=qty), T, status=status, quantity=qty)


ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
FORBIDDEN = [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("start", "end"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_transition(start: OrderStatus, end: OrderStatus) -> None:
    moved = transition(order(start), end, at=T, reason="why")
    assert moved.status is end and moved.status_reason == "why"


@pytest.mark.parametrize(
    ("start", "end"), FORBIDDEN[::3], ids=[f"{a}->{b}" for a, b in FORBIDDEN[::3]]
)
def test_forbidden_transitions_raise(start: OrderStatus, end: OrderStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"{start} -> {end} is not allowed"):
        transition(order(start), end)


def test_terminal_statuses_go_nowhere() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        assert status.is_terminal and not status.is_open
    assert S.NEW.is_open and S.PARTIALLY_FILLED.is_open


def test_fills_accumulate_with_an_average_price() -> None:
    first = Fill("o-1", "X", Side.BUY, 4.0, 100.0, 0.4, T)
    second = Fill("o-1", "X", Side.BUY, 6.0, 110.0, 0.6, T)
    partly = apply_fill(order(), first, complete=False)
    assert partly.status is S.PARTIALLY_FILLED and partly.remaining == 6.0
    done = apply_fill(partly, second, complete=True)
    assert done.status is S.FILLED and done.remaining == 0.0
    assert done.average_price == pytest.approx(106.0) and done.commission == pytest.approx(1.0)
    with pytest.raises(InvalidTransition):
        apply_fill(done, second, complete=True)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"quantity": 1, "notional": 100}, "exactly one of quantity or notional"),
        ({}, "exactly one of quantity or notional"),
        ({"quantity": -1}, "size must be positive"),
        ({"quantity": 1, "type": OrderType.LIMIT}, "limit_price is required"),
        ({"quantity": 1, "type": OrderType.STOP}, "stop_price is required"),
        ({"quantity": 1, "limit_price": 5.0}, "limit_price is not allowed"),
        ({"quantity": 1, "type": OrderType.LIMIT, "limit_price": -5.0}, "must be positive"),
        ({"quantity": 1, "stop_loss_percent": 5}, "need order_class"),
        (
            {"quantity": 1, "order_class": "oto", "stop_loss_percent": 5, "stop_loss": 90},
            "not two of them",
        ),
        (
            {"quantity": 1, "order_class": "oto", "take_profit_percent": 5, "take_profit": 110},
            "take_profit or take_profit_percent",
        ),
        ({"quantity": 1, "order_class": "oto", "stop_loss_percent": 100}, "below 100"),
        ({"quantity": 1, "order_class": "oto", "stop_loss_percent": -1}, "must be positive"),
        ({"quantity": 1, "order_class": "bracket", "stop_loss_percent": 5}, "needs both"),
        (
            {
                "quantity": 1,
                "type": "limit",
                "limit_price": 110,
                "order_class": "oco",
                "stop_loss_percent": 5,
            },
            "need an entry",
        ),
    ],
)
def test_order_requests_are_validated(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        OrderRequest("X", Side.BUY, **kwargs)


def test_the_direct_copies_equal_dataclasses_replace() -> None:
    """The copies every order's life makes are built directly; they must stay what
    ``dataclasses.replace`` gives, field by field (a new field must be added to them)."""
    import dataclasses

    from workbench.lifecycle import apply_fill, transition
    from workbench.orders import Fill, Order, OrderClass, OrderStatus

    request = OrderRequest(
        "X", Side.BUY, quantity=3.0, type=OrderType.LIMIT, limit_price=10.0, reason="r",
        order_class=OrderClass.BRACKET, take_profit=12.0, stop_loss=9.0,
    )  # fmt: skip
    assert request.with_client_id("cid-1") == dataclasses.replace(request, client_order_id="cid-1")
    t0, t1 = pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")
    order = Order("o-1", request, t0, quantity=3.0, updated_at=t0, parent_id="p", legs=("a",))
    assert len(dataclasses.fields(Order)) == 12  # _moved builds each of them
    moved = transition(order, OrderStatus.CANCELED, at=t1, reason="why")
    assert moved == dataclasses.replace(
        order, status=OrderStatus.CANCELED, updated_at=t1, status_reason="why"
    )
    fill = Fill("o-1", "X", Side.BUY, 1.0, 10.5, 0.25, t1)
    part = apply_fill(order, fill, complete=False)
    assert part == dataclasses.replace(
        order, status=OrderStatus.PARTIALLY_FILLED, updated_at=t1, filled_quantity=1.0,
        average_price=10.5, commission=0.25,
    )  # fmt: skip


def test_the_direct_builds_of_orders_and_fills_equal_their_constructors() -> None:
    """``build_order`` and ``build_fill`` (the order path's objects, without the class
    call) give what the constructors give, field by field and type by type."""
    from workbench.orders import Fill, Order, OrderStatus, build_fill, build_order

    request = OrderRequest("X", Side.SELL, quantity=2.0, reason="r")
    t0 = pd.Timestamp("2024-01-02", tz="UTC")
    order_args = ("o-1", request, t0, OrderStatus.NEW, 2.0, 0.5, 10.0, 0.1, t0, "s", "p", ("a",))
    fill_args = ("o-1", "X", Side.SELL, 1.0, 10.5, 0.25, t0, "r", 0.01)
    for build, cls, args in ((build_order, Order, order_args), (build_fill, Fill, fill_args)):
        got, want = build(*args), cls(*args)
        assert type(got) is cls and got == want and hash(got) == hash(want)
        names = [f.name for f in dataclasses.fields(cls)]
        assert [getattr(got, n) for n in names] == [getattr(want, n) for n in names]
        assert [type(getattr(got, n)) for n in names] == [type(getattr(want, n)) for n in names]
    assert build_fill(*fill_args).liquidity == "taker"


@pytest.mark.parametrize(
    ("side", "quantity", "tif", "reason"),
    [(Side.BUY, 1.0, TimeInForce.GTC, ""), (Side.SELL, 0.25, TimeInForce.DAY, "EXIT"),
     (Side.SELL, 1e-12, TimeInForce.DAY, "r")],
)  # fmt: skip
def test_market_order_equals_the_constructor(side, quantity, tif, reason) -> None:
    """The targets' direct build of a market order is the constructor's object."""
    from workbench.orders import market_order

    got = market_order("X", side, quantity, tif, reason)
    want = OrderRequest("X", side, quantity=quantity, tif=tif, reason=reason)
    assert got == want and hash(got) == hash(want)
    names = [f.name for f in dataclasses.fields(OrderRequest)]
    assert [getattr(got, n) for n in names] == [getattr(want, n) for n in names]
    assert [type(getattr(got, n)) for n in names] == [type(getattr(want, n)) for n in names]


@pytest.mark.parametrize("quantity", [0.0, -1.0, float("nan")])
def test_market_order_refuses_what_the_constructor_refuses(quantity: float) -> None:
    from workbench.orders import market_order

    with pytest.raises(ConfigError) as want:
        OrderRequest("X", Side.BUY, quantity=quantity, tif=TimeInForce.GTC)
    with pytest.raises(ConfigError) as got:
        market_order("X", Side.BUY, quantity, TimeInForce.GTC)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (S.PENDING_NEW, S.PENDING_CANCEL),  # a cancel of an order routed, not taken yet
        (S.PENDING_NEW, S.EXPIRED),  # its time in force ends it before it is taken
        (S.ACCEPTED, S.EXPIRED),
        (S.PENDING_CANCEL, S.REJECTED),  # the exchange refuses it while the cancel waits
    ],
    ids=lambda s: str(s),
)
def test_alpacas_moves_of_an_order_not_working_yet(start: OrderStatus, end: OrderStatus) -> None:
    """ "An order may be canceled ... up until the point it reaches a state of either
    filled, canceled, or expired" (Orders at Alpaca, "Order Lifecycle")."""
    assert transition(order(start), end).status is end


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PENDING_NEW])
def test_an_order_not_routed_cannot_be_replaced(start: OrderStatus) -> None:
    """Alpaca: 422 "unable to replace order, order isn't sent to exchange yet"."""
    for end in (S.PENDING_REPLACE, S.REPLACED):
        with pytest.raises(InvalidTransition):
            transition(order(start), end)


@pytest.mark.parametrize(
    ("current", "update", "stale"),
    [
        (S.NEW, S.PENDING_NEW, True),  # the stream keeps no order
        (S.NEW, S.ACCEPTED, True),
        (S.NEW, S.HELD, True),  # a leg's held, after it started working
        (S.PARTIALLY_FILLED, S.NEW, True),
        (S.PARTIALLY_FILLED, S.PENDING_NEW, True),
        (S.PENDING_CANCEL, S.PENDING_NEW, True),
        (S.PENDING_REPLACE, S.ACCEPTED, True),
        (S.CANCELED, S.PENDING_CANCEL, True),  # open after an end
        (S.FILLED, S.PARTIALLY_FILLED, True),
        (S.EXPIRED, S.NEW, True),
        (S.ACCEPTED, S.PENDING_NEW, False),  # allowed moves are not stale
        (S.PENDING_NEW, S.ACCEPTED, False),
        (S.PENDING_CANCEL, S.NEW, False),  # the cancel was rejected
        (S.PENDING_REPLACE, S.HELD, False),
        (S.NEW, S.NEW, False),
        (S.FILLED, S.CANCELED, False),  # forward and not allowed: an inconsistency
        (S.CANCELED, S.FILLED, False),
        (S.PENDING_CANCEL, S.PENDING_REPLACE, False),
        (S.ACCEPTED, S.HELD, False),
    ],
    ids=lambda s: str(s),
)
def test_an_update_older_than_the_order_is_told_apart(
    current: OrderStatus, update: OrderStatus, stale: bool
) -> None:
    from workbench.lifecycle import overtaken

    assert overtaken(current, update) is stale
    if not stale and update not in TRANSITIONS[current] and update is not current:
        with pytest.raises(InvalidTransition):  # what is neither is still refused
            transition(order(current), update)


def test_every_status_is_a_stage_of_the_way_in_or_after_it() -> None:
    """The stages are the statuses an order leaves for good: each stage's moves go to a
    later stage or out of the way in, never back."""
    from workbench.lifecycle import WAY_IN

    for status, stage in WAY_IN.items():
        assert status.is_open
        for end in TRANSITIONS[status]:
            assert WAY_IN.get(end, stage + 1) >= stage, f"{status} -> {end} goes back"
