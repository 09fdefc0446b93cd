"""The US equity price grid: whole cents from $1.00 up, 1/100 of a cent below."""

from __future__ import annotations

import pytest

from workbench.ticks import decimals, is_on_grid, on_grid


@pytest.mark.parametrize(
    ("price", "grid"),
    [(41.0851, 41.09), (41.0849, 41.08), (1.0, 1.0), (0.123456, 0.1235), (0.99996, 1.0),
     (0.6013, 0.6013), (250.0, 250.0)],
)  # fmt: skip
def test_a_price_goes_to_the_nearest_step(price: float, grid: float) -> None:
    assert on_grid(price) == grid
    assert is_on_grid(grid)


@pytest.mark.parametrize(
    ("price", "ok"),
    [(0.6013, True), (0.60135, False), (1.005, False), (1.01, True), (41.085, False)],
)
def test_alpacas_examples(price: float, ok: bool) -> None:
    """$0.6013 accepted (alpaca-trade-api-csharp #497); 41.085 refused (-go #260)."""
    assert is_on_grid(price) is ok
    assert decimals(price) == (2 if price >= 1.0 else 4)
