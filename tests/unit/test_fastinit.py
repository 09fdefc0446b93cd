"""The order path's dataclasses built by fast_init's __init__ equal the generated one's."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pandas as pd
import pytest

from workbench.broker import AccountSnapshot, OrderUpdate, UpdateEvent
from workbench.errors import ConfigError
from workbench.execution.engine import Cancel, Submit
from workbench.exits import Exits
from workbench.fastinit import fast_init
from workbench.intents import TargetIntent
from workbench.orders import Fill, Order, OrderRequest, OrderStatus, Side, TimeInForce
from workbench.portfolio import PositionView
from workbench.risk.book import Proposal
from workbench.risk.state import RiskState, TradingState

T = pd.Timestamp("2024-03-01 14:31", tz="UTC")
REQ = OrderRequest("SPY", Side.BUY, quantity=3.0, tif=TimeInForce.DAY, reason="why")
ORDER = Order("sim-1", REQ, T, OrderStatus.NEW, 3.0, 0.0, 0.0, 0.0, T)
FILL = Fill("sim-1", "SPY", Side.BUY, 3.0, 101.5, 0.3, T, reason="why", slippage=0.01)

# (class, positional args, keyword args): defaults left out, given, or passed by name
CASES = [
    (OrderRequest, ("SPY", Side.SELL), {"notional": 500.0, "reason": "r"}),
    (
        OrderRequest,
        ("SPY", Side.BUY, 1.0),
        {"take_profit": 110.0, "stop_loss": 90.0, "order_class": "bracket"},
    ),
    (Order, ("sim-2", REQ, T), {}),
    (
        Order,
        ("sim-3", REQ, T, OrderStatus.FILLED, 3.0, 3.0, 100.0, 0.3, T, "", "sim-1", ("a",)),
        {},
    ),
    (Fill, ("sim-1", "SPY", Side.SELL, 2.0, 99.0, 0.2, T), {"liquidity": "maker"}),
    (OrderUpdate, (UpdateEvent.FILL, ORDER, T, FILL), {}),
    (OrderUpdate, (UpdateEvent.NEW, ORDER, T), {}),
    (AccountSnapshot, (1_000.0, 1_200.0, 900.0), {}),
    (TargetIntent, ("SPY", T), {"quantity": 2.0, "exits": Exits(stop_loss=90.0)}),
    (Submit, (REQ,), {"from_target": True}),
    (Cancel, ("sim-1",), {}),
    (Cancel, ("sim-1", "replaced by a new target"), {}),
    (Proposal, (REQ, 1, 3.0, 101.0, 101.0, None, 0.0, True), {}),
    (RiskState, (), {"trading": TradingState.REDUCING, "peak_equity": 5.0, "orders_today": 2}),
    (PositionView, ("SPY", 3.0, 100.0, 101.0, 303.0, 3.0, 0.0), {}),
]


def _values(obj: object) -> list[object]:
    return [getattr(obj, f.name) for f in dataclasses.fields(obj)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "args", "kwargs"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_objects_equal_those_of_the_generated_init(cls, args, kwargs) -> None:
    fast = cls(*args, **kwargs)
    slow = object.__new__(cls)
    cls.__init__.__wrapped__(slow, *args, **kwargs)
    assert _values(fast) == _values(slow) and fast == slow and hash(fast) == hash(slow)
    assert [type(v) for v in _values(fast)] == [type(v) for v in _values(slow)]
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert dataclasses.replace(fast) == fast
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__(dataclasses.fields(cls)[0].name, None)
    generated = inspect.signature(cls.__init__.__wrapped__)
    assert inspect.signature(cls.__init__, follow_wrapped=False) == generated


def test_post_init_still_validates() -> None:
    with pytest.raises(ConfigError, match="exactly one of quantity or notional"):
        OrderRequest("SPY", Side.BUY)
    with pytest.raises(ConfigError, match="size must be positive"):
        OrderRequest("SPY", Side.BUY, quantity=float("nan"))
    with pytest.raises(ConfigError, match="exactly one of quantity, notional or percent"):
        TargetIntent("SPY", T, quantity=1.0, percent=0.5)
    assert OrderRequest("SPY", Side.BUY, 1.0, order_class="simple").order_class == "simple"


def test_only_plain_frozen_slotted_dataclasses_are_taken() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        x: list = dataclasses.field(default_factory=list)

    for cls in (NoSlots, Factory):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)


def test_fast_copy_sets_one_field_and_copies_the_rest() -> None:
    from workbench.fastinit import fast_copy

    copy = fast_copy(Order, "status_reason")
    order = Order("sim-9", REQ, T, OrderStatus.FILLED, 3.0, 3.0, 100.0, 0.3, T, "", "p", ("a",))
    got = copy(order, "why")
    assert got == dataclasses.replace(order, status_reason="why") and got is not order
    assert _values(copy(order, "")) == _values(order)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.status_reason = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'nope'"):
        fast_copy(Order, "nope")


def test_fast_build_sets_the_given_fields_and_defaults_the_rest() -> None:
    from workbench.fastinit import fast_build

    build = fast_build(
        Fill, ("order_id", "symbol", "side", "quantity", "price", "commission", "time")
    )
    got = build("o", "SPY", Side.SELL, 2.0, 99.0, 0.2, T)
    assert got == Fill("o", "SPY", Side.SELL, 2.0, 99.0, 0.2, T)
    assert [type(v) for v in _values(got)] == [type(v) for v in _values(FILL)]
    with pytest.raises(TypeError, match=r"Fill\.order_id has no default"):
        fast_build(Fill, ("symbol",))
    with pytest.raises(TypeError, match="no field"):
        fast_build(Fill, ("nope",))


def test_large_classes_are_filled_as_their_twin_and_end_frozen() -> None:
    """A class of TWIN_MIN_FIELDS fields or more is filled through a plain class with its
    slots; what comes out is the frozen class itself, never the twin."""
    from workbench.fastinit import TWIN_MIN_FIELDS, _twin

    assert len(dataclasses.fields(Order)) >= TWIN_MIN_FIELDS and _twin(Order) is not None
    assert _twin(OrderUpdate) is None  # 4 fields: one descriptor call a field is cheaper
    for obj in (ORDER, FILL, REQ, Order("x", REQ, T), RiskState()):
        assert type(obj) in (Order, Fill, OrderRequest, RiskState)
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.__setattr__(dataclasses.fields(obj)[0].name, None)
    with pytest.raises(ConfigError):  # __post_init__ runs on the frozen object, and refuses
        OrderRequest("SPY", Side.BUY, quantity=-1.0)


def test_a_subclass_instance_is_filled_through_the_descriptors() -> None:
    class Tagged(Order):
        __slots__ = ("tag",)

    obj = Tagged("sim-7", REQ, T, OrderStatus.NEW, 3.0)
    assert type(obj) is Tagged
    assert _values(obj) == _values(Order("sim-7", REQ, T, OrderStatus.NEW, 3.0))
