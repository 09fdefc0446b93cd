"""Strategy parameters, declared once and read by every tool.

A strategy lists :class:`Param` objects (type, default, range, choices) and
constraint strings such as ``"fast < slow"``; the CLI, sweeps, widgets,
papermill notebooks and promotion all validate against the same declaration.
Constraints are plain comparisons (``<, <=, >, >=, ==, !=``) between parameter
names or numbers, so they can be shown to people and stored as text in bundles.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.errors import ParameterError

_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z_]\w*|-?\d+(?:\.\d+)?)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z_]\w*|-?\d+(?:\.\d+)?)\s*$"
)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its type (int, float, bool or str), default and allowed values."""

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in (int, float, bool, str):
            raise TypeError(f"param {self.name}: type must be int, float, bool or str")
        self.validate(self.default)

    def describe(self) -> str:
        """The allowed values, as error messages and ``--help`` show them."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.type is bool:
            return "true or false"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{self.type.__name__} in [{lo}, {hi}]"

    def coerce(self, value: Any) -> Any:
        """Convert a CLI string or a JSON/numpy value to the declared type."""
        try:
            if self.type is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low in ("1", "true", "yes", "on"):
                        return True
                    if low in ("0", "false", "no", "off"):
                        return False
                    raise ValueError(value)
                if value in (0, 1):
                    return bool(value)
                raise ValueError(value)
            if self.type is int:
                number = float(value)
                if not number.is_integer():
                    raise ValueError(value)
                return int(number)
            if self.type is float:
                number = float(value)
                if math.isnan(number):  # NaN compares False with both bounds: never in range
                    raise ValueError(value)
                return number
            return str(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter {self.name}={value!r} is not a valid {self.type.__name__}",
                hint=f"allowed: {self.describe()}",
            ) from None

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to the type; raise ParameterError if not allowed."""
        value = self.coerce(value)
        if self.choices is not None and value not in self.choices:
            raise ParameterError(
                f"parameter {self.name}={value!r} is not allowed", hint=self.describe()
            )
        if self.type in (int, float) and (
            (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
        ):
            raise ParameterError(
                f"parameter {self.name}={value} is out of range",
                hint=f"allowed: {self.describe()}",
            )
        return value


@dataclass(frozen=True, slots=True)
class Constraint:
    """A comparison between two parameters (or a parameter and a number), e.g. ``fast < slow``."""

    text: str

    def _parts(self) -> tuple[str, str, str]:
        match = _CONSTRAINT.match(self.text)
        if match is None:
            raise ValueError(f"constraint {self.text!r}: expected 'a < b' with names or numbers")
        return match.group(1), match.group(2), match.group(3)

    def names(self) -> list[str]:
        left, _, right = self._parts()
        return [t for t in (left, right) if t[0].isalpha() or t[0] == "_"]

    def holds(self, values: Mapping[str, Any]) -> bool:
        left, op, right = self._parts()
        return bool(_OPS[op](_operand(left, values), _operand(right, values)))


def _operand(token: str, values: Mapping[str, Any]) -> Any:
    if token[0].isalpha() or token[0] == "_":
        return values[token]
    return float(token)


class ParamSpace:
    """The declared parameters and constraints of one strategy."""

    def __init__(self, params: Iterable[Param], constraints: Iterable[str] = ()) -> None:
        self.params: dict[str, Param] = {p.name: p for p in params}
        self.constraints = tuple(Constraint(c) for c in constraints)
        for c in self.constraints:
            unknown = [n for n in c.names() if n not in self.params]
            if unknown:
                raise ValueError(f"constraint {c.text!r} names unknown parameter(s) {unknown}")

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def resolve(
        self, values: Mapping[str, Any] | None = None, *, strategy: str = ""
    ) -> dict[str, Any]:
        """Defaults overlaid with ``values``, each validated; unknown names raise."""
        values = dict(values or {})
        where = f" of {strategy}" if strategy else ""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise ParameterError(
                f"unknown parameter(s){where}: {', '.join(unknown)}",
                hint="known: " + ", ".join(f"{n} ({p.describe()})" for n, p in self.params.items()),
            )
        out = self.defaults()
        for name, value in values.items():
            out[name] = self.params[name].validate(value)
        self.check_constraints(out, strategy=strategy)
        return out

    def violated(self, values: Mapping[str, Any]) -> list[Constraint]:
        return [c for c in self.constraints if not c.holds(values)]

    def check_constraints(self, values: Mapping[str, Any], *, strategy: str = "") -> None:
        bad = self.violated(values)
        if bad:
            c = bad[0]
            shown = ", ".join(f"{n}={values[n]}" for n in c.names())
            where = f" of {strategy}" if strategy else ""
            raise ParameterError(
                f"parameters{where} violate the constraint {c.text} ({shown})",
                hint=f"choose values with {c.text}",
            )


def parse_assignments(
    items: Iterable[str], flag: str = "--param", example: str = "fast=50"
) -> dict[str, str]:
    """``["fast=50", "slow=200"]`` -> ``{"fast": "50", "slow": "200"}`` (values stay strings).

    ``flag`` is the option they came from, named in the errors; a name given twice is
    refused (the last one silently won)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(
                f"{flag} {item!r}: expected NAME=VALUE", hint=f"e.g. {flag} {example}"
            )
        if name in out:
            raise ParameterError(
                f"{flag} {name} given twice ({out[name]!r} and {value.strip()!r})",
                hint="give each once",
            )
        out[name] = value.strip()
    return out
