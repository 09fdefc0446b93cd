from __future__ import annotations

import pytest

from workbench.errors import ParameterError
from workbench.params import Constraint, Param, ParamSpace, parse_assignments

SPACE = ParamSpace(
    [
        Param("fast", int, 50, low=1, high=500),
        Param("slow", int, 200, low=2, high=1000),
        Param("short", bool, False),
        Param("mode", str, "a", choices=("a", "b")),
        Param("fraction", float, 1.0, low=0.0, high=1.0),
    ],
    ["fast < slow"],
)


def test_defaults_and_coercion_from_strings() -> None:
    values = SPACE.resolve({"fast": "10", "slow": "30.0", "short": "true", "fraction": "0.5"})
    assert values == {"fast": 10, "slow": 30, "short": True, "mode": "a", "fraction": 0.5}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"fast": 0}, "fast=0 is out of range"),
        ({"fast": 2.5}, "fast=2.5 is not a valid int"),
        ({"slow": 5000}, "int in [2, 1000]"),
        ({"mode": "c"}, "one of a, b"),
        ({"short": "maybe"}, "true or false"),
        ({"fraction": "nan"}, "fraction='nan' is not a valid float"),
        (
            {"fraction": float("nan")},
            "fraction=nan is not a valid float (allowed: float in [0, 1])",
        ),
        ({"fast": 60, "slow": 50}, "violate the constraint fast < slow (fast=60, slow=50)"),
        ({"fats": 3}, "unknown parameter(s): fats"),
    ],
)
def test_errors_name_the_parameter_and_the_allowed_values(values: dict, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        SPACE.resolve(values)
    assert fragment in str(info.value)


def test_constraint_with_number_and_names() -> None:
    c = Constraint("fast >= 3")
    assert c.names() == ["fast"]
    assert c.holds({"fast": 3}) and not c.holds({"fast": 2})
    with pytest.raises(ValueError):
        Constraint("fast <").names()


def test_constraint_must_name_declared_params() -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        ParamSpace([Param("a", int, 1)], ["a < b"])


def test_parse_assignments() -> None:
    assert parse_assignments(["fast=5", " slow = 7 "]) == {"fast": "5", "slow": "7"}
    with pytest.raises(ParameterError, match="expected NAME=VALUE"):
        parse_assignments(["fast"])
