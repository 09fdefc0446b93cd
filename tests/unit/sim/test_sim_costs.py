"""Commission and slippage models: hand-computed charges and the command-line grammar."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError
from workbench.orders import Side
from workbench.sim.costs import Commission, Slippage

# (commission, filled quantity, filled notional, expected total)
COMMISSION_TOTALS = [
    (Commission(), 10, 1_000.0, 0.0),
    (Commission(percent=0.001), 10, 1_000.0, 1.0),
    (Commission(per_share=0.005), 100, 5_000.0, 0.5),
    (Commission(per_share=0.005, minimum=1.0), 100, 5_000.0, 1.0),  # the minimum applies
    (Commission(per_share=0.005, minimum=1.0), 1_000, 50_000.0, 5.0),
    (Commission(per_share=0.01, percent=0.001, minimum=1.0), 100, 10_000.0, 11.0),
    (Commission(minimum=1.0), 0, 0.0, 0.0),  # nothing filled, nothing charged
]


@pytest.mark.parametrize(("commission", "quantity", "notional", "expected"), COMMISSION_TOTALS)
def test_commission_total(
    commission: Commission, quantity: float, notional: float, expected: float
) -> None:
    assert commission.total(quantity, notional) == pytest.approx(expected)


def test_partial_fills_pay_the_minimum_once() -> None:
    c = Commission(per_share=0.02, minimum=1.0)
    # three fills of 40, 40 and 20 shares: 0.8 -> 1.0 (minimum), 1.6, 2.0 in total
    charges = [
        c.increment(0, 0, 40, 4_000),
        c.increment(40, 4_000, 40, 4_000),
        c.increment(80, 8_000, 20, 2_000),
    ]
    assert charges == pytest.approx([1.0, 0.6, 0.4])
    assert sum(charges) == pytest.approx(c.total(100, 10_000))


# (side, price, high, low, slippage, expected price)
SLIPPED_PRICES = [
    (Side.BUY, 100.0, 102.0, 98.0, Slippage(), 100.0),
    (Side.BUY, 100.0, 102.0, 98.0, Slippage(bps=10), 100.1),
    (Side.SELL, 100.0, 102.0, 98.0, Slippage(bps=10), 99.9),
    (Side.BUY, 100.0, 102.0, 98.0, Slippage(range_fraction=0.1), 100.4),
    (Side.SELL, 100.0, 102.0, 98.0, Slippage(range_fraction=0.1), 99.6),
    (Side.BUY, 100.0, 102.0, 98.0, Slippage(bps=10, range_fraction=0.1), 100.5),
    (Side.SELL, 1.0, 30.0, 1.0, Slippage(range_fraction=1.0), 0.0),  # never below zero
]


@pytest.mark.parametrize(("side", "price", "high", "low", "slippage", "expected"), SLIPPED_PRICES)
def test_slippage_is_adverse(
    side: Side, price: float, high: float, low: float, slippage: Slippage, expected: float
) -> None:
    assert slippage.apply(price, side, high, low) == pytest.approx(expected)


COMMISSION_SPECS = [
    (None, Commission()),
    ("", Commission()),
    ("none", Commission()),
    (0.001, Commission(percent=0.001)),
    ("0.001", Commission(percent=0.001)),
    ("0.1%", Commission(percent=0.001)),
    ("per_share=0.005,minimum=1", Commission(per_share=0.005, minimum=1.0)),
    ("percent=0.05%, minimum=2", Commission(percent=0.0005, minimum=2.0)),
    ({"per_share": 0.01}, Commission(per_share=0.01)),
    (Commission(minimum=3), Commission(minimum=3)),
]


@pytest.mark.parametrize(("spec", "expected"), COMMISSION_SPECS)
def test_commission_grammar(spec: object, expected: Commission) -> None:
    assert Commission.parse(spec) == expected  # type: ignore[arg-type]


SLIPPAGE_SPECS = [
    (None, Slippage()),
    (5, Slippage(bps=5)),
    ("5", Slippage(bps=5)),
    ("5bps", Slippage(bps=5)),
    ("range=0.1", Slippage(range_fraction=0.1)),
    ("bps=2, range=0.1", Slippage(bps=2, range_fraction=0.1)),
    ({"range_fraction": 0.2}, Slippage(range_fraction=0.2)),
    (Slippage(bps=1), Slippage(bps=1)),
]


@pytest.mark.parametrize(("spec", "expected"), SLIPPAGE_SPECS)
def test_slippage_grammar(spec: object, expected: Slippage) -> None:
    assert Slippage.parse(spec) == expected  # type: ignore[arg-type]


BAD_SETTINGS = [
    (lambda: Commission(per_share=-0.01), "per_share"),
    (lambda: Commission(percent=float("nan")), "percent"),
    (lambda: Commission(minimum=-1), "minimum"),
    (lambda: Slippage(bps=-5), "bps"),
    (lambda: Slippage(range_fraction=-0.1), "range_fraction"),
    (lambda: Slippage(bps=10_000), "bps"),
    (lambda: Commission.parse("fee=1"), "unknown setting 'fee'"),
    (lambda: Commission.parse("percent=abc"), "not a number"),
    (lambda: Commission.parse("percent"), "not a number"),
    (lambda: Commission.parse("-0.001"), "percent"),
    (lambda: Slippage.parse("5pips"), "not a number"),
    (lambda: Slippage.parse("range:0.1"), "not a number"),
    (lambda: Slippage.parse({"ticks": 1}), "unknown setting 'ticks'"),
]


@pytest.mark.parametrize(("make", "message"), BAD_SETTINGS)
def test_bad_settings_are_config_errors_naming_the_field(make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()
