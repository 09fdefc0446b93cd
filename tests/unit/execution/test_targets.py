"""Targets into orders, table by table: (position, target) -> orders."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.execution.targets import orders_for_target
from workbench.intents import TargetIntent
from workbench.orders import Side

T = pd.Timestamp("2024-01-02", tz="UTC")


def _orders(position: float, price: float, equity: float, **target: float):
    intent = TargetIntent("X", T, reason="R", **target)
    return [
        (o.side, o.quantity, o.notional)
        for o in orders_for_target(intent, position=position, price=price, equity=equity)
    ]


@pytest.mark.parametrize(
    ("position", "target", "expected"),
    [
        (0, {"percent": 1.0}, [(Side.BUY, None, 10_000.0)]),
        (0, {"percent": 0.5}, [(Side.BUY, None, 5_000.0)]),
        (0, {"percent": 0.0}, []),
        (50, {"percent": 0.0}, [(Side.SELL, 50, None)]),
        (50, {"percent": 1.0}, [(Side.BUY, None, 5_000.0)]),  # holds 5,000 of 10,000
        (50, {"percent": 0.25}, [(Side.SELL, 25.0, None)]),
        (50, {"percent": -0.5}, [(Side.SELL, 50, None), (Side.SELL, None, 5_000.0)]),
        (-20, {"percent": 0.3}, [(Side.BUY, 20, None), (Side.BUY, None, 3_000.0)]),
        (0, {"notional": 2_500.0}, [(Side.BUY, None, 2_500.0)]),
        (10, {"quantity": 4.0}, [(Side.SELL, 6.0, None)]),
        (10, {"quantity": 10.0}, []),
        (0, {"quantity": -3.0}, [(Side.SELL, 3.0, None)]),
    ],
)
def test_target_table(position: float, target: dict, expected: list) -> None:
    assert _orders(position, 100.0, 10_000.0, **target) == expected


def test_reason_travels_with_every_order() -> None:
    intent = TargetIntent("X", T, percent=-1.0, reason="FLIP")
    orders = orders_for_target(intent, position=5, price=10.0, equity=1_000.0)
    assert [o.reason for o in orders] == ["FLIP", "FLIP"]


@pytest.mark.parametrize(
    ("position", "target", "tifs"),
    [
        (0, {"percent": 1.0}, ["day"]),  # notional: DAY
        (12.5, {"percent": 0.0}, ["day"]),  # closing a fractional position: DAY
        (12.0, {"percent": 0.0}, ["gtc"]),  # whole shares: GTC, the rest may fill later
        (10, {"quantity": 2.5}, ["day"]),
        (10, {"quantity": 4.0}, ["gtc"]),
        (7.25, {"percent": -0.5}, ["day", "day"]),
    ],
)
def test_fractional_and_notional_orders_are_day_orders(position, target, tifs) -> None:
    """Alpaca accepts fractional and notional orders only as DAY orders."""
    intent = TargetIntent("X", T, reason="R", **target)
    orders = orders_for_target(intent, position=position, price=100.0, equity=10_000.0)
    assert [str(o.tif) for o in orders] == tifs


def test_asked_again_the_same_resolution_is_given_again_and_new_numbers_resolve_anew() -> None:
    """The risk check and the execution plan ask about the same target in turn: the
    second answer is the first's requests (not rebuilt), in a list of its own; any other
    intent or number is resolved from scratch."""
    intent = TargetIntent("X", T, reason="R", percent=0.5)
    first = orders_for_target(intent, position=10, price=100.0, equity=10_000.0)
    again = orders_for_target(intent, position=10, price=100.0, equity=10_000.0)
    assert again == first and again is not first
    assert all(a is b for a, b in zip(again, first, strict=True))
    again.clear()  # the caller's own list
    assert orders_for_target(intent, position=10, price=100.0, equity=10_000.0) == first
    for changed, expected in [
        ({"position": 20}, [(Side.BUY, None, 3_000.0)]),
        ({"price": 200.0}, [(Side.BUY, None, 3_000.0)]),
        ({"equity": 20_000.0}, [(Side.BUY, None, 9_000.0)]),
    ]:
        numbers = {"position": 10, "price": 100.0, "equity": 10_000.0}
        numbers.update(changed)
        out = orders_for_target(intent, **numbers)
        assert [(o.side, o.quantity, o.notional) for o in out] == expected, changed
    lots = TargetIntent("X", T, reason="R", quantity=7.3)
    assert orders_for_target(lots, position=0, price=1.0, equity=1e4)[0].quantity == 7.3
    assert orders_for_target(lots, position=0, price=1.0, equity=1e4, lot_size=1.0)[0].quantity == 7
    twin = TargetIntent("X", T, reason="R", percent=0.25)  # another intent, same numbers
    out = orders_for_target(twin, position=10, price=100.0, equity=10_000.0)
    assert [(o.side, o.quantity, o.notional) for o in out] == [(Side.BUY, None, 1_500.0)]
