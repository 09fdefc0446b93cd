"""Trading costs of the simulated venue: commission and slippage models.

Both are small frozen value objects, validated on construction (a negative value is
a :class:`~workbench.errors.ConfigError` naming the field) and parsed from the
command line by :meth:`Commission.parse` / :meth:`Slippage.parse`.

Commission grammar (``--commission``)::

    0.001 | "0.001"               fraction of traded notional (0.1 %)
    "0.1%"                        the same, written as a percentage
    "per_share=0.005,minimum=1"   named fields: per_share, percent, minimum
    {"percent": 0.001}            a mapping with the same names
    None | "" | "none"            no commission

Slippage grammar (``--slippage``)::

    5 | "5" | "5bps"              5 basis points of the price, against the trader
    "range=0.1"                   10 % of the bar's high - low range, against the trader
    "bps=5,range=0.1"             both (range_fraction is accepted for range)
    {"bps": 5}                    a mapping with the field names
    None | "" | "none"            no slippage

How the venue applies them (once per order, never twice) is in :mod:`workbench.sim.fills`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from workbench.errors import ConfigError
from workbench.orders import Side

CostSpec = str | float | int | Mapping[str, Any] | None


def _check_non_negative(owner: str, name: str, value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value >= 0):  # type: ignore[arg-type]
        raise ConfigError(f"{owner} {name} must be a non-negative number, got {value!r}")


def _number(owner: str, key: str, text: str) -> float:
    """``text`` as a float; a trailing ``%`` divides by 100."""
    raw = text.strip()
    scale = 1.0
    if raw.endswith("%"):
        raw, scale = raw[:-1].strip(), 0.01
    try:
        return float(raw) * scale
    except ValueError:
        raise ConfigError(
            f"{owner} {key}: {text.strip()!r} is not a number", hint=f"see `{owner}` grammar"
        ) from None


def _pairs(owner: str, spec: str) -> dict[str, str]:
    """Split ``"a=1,b=2"`` into ``{"a": "1", "b": "2"}``."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(
                f"{owner}: cannot read {part.strip()!r} in {spec!r}", hint="write name=value pairs"
            )
        out[key.strip().lower()] = value
    return out


def _from_mapping(
    cls: type, owner: str, values: Mapping[str, Any], aliases: Mapping[str, str]
) -> Any:
    """Build ``cls`` from named settings; unknown names are refused with the known ones."""
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = aliases.get(key, key)
        if name not in known:
            raise ConfigError(
                f"{owner}: unknown setting {key!r}", hint="known: " + ", ".join(sorted(known))
            )
        kwargs[name] = _number(owner, key, value) if isinstance(value, str) else value
    return cls(**kwargs)


#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_BUY = Side.BUY

# On every fill, ``max(a, b)`` is written out as a conditional with its exact result (NaN and
# -0.0 included): on Python 3.11 the builtin parses its arguments, ~8x a comparison.


def _is_none(spec: object) -> bool:
    return spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none", "0"))


@dataclass(frozen=True, slots=True)
class Commission:
    """What the venue charges per order: ``max(minimum, per_share * qty + percent * notional)``.

    Charged once per order: the first fill pays the total of what has filled so far
    (at least the minimum), each later fill pays only the increase, so a partially
    filled order never pays the minimum twice.
    """

    per_share: float = 0.0
    percent: float = 0.0  # fraction of notional: 0.001 = 0.1 %
    minimum: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_share", "percent", "minimum"):
            _check_non_negative("commission", name, getattr(self, name))

    @property
    def is_zero(self) -> bool:
        return self.per_share == 0.0 and self.percent == 0.0 and self.minimum == 0.0

    def total(self, quantity: float, notional: float) -> float:
        """The commission of an order that has filled ``quantity`` for ``notional`` in all."""
        if quantity <= 0.0:
            return 0.0
        charge = self.per_share * quantity + self.percent * abs(notional)
        return charge if charge > self.minimum else self.minimum  # max(minimum, charge)

    def increment(
        self, filled_quantity: float, filled_notional: float, quantity: float, notional: float
    ) -> float:
        """What one more fill of ``quantity`` for ``notional`` adds to the order's total."""
        # nothing filled yet (an order's first fill, most often its only one): no charge before
        before = 0.0 if filled_quantity <= 0.0 else self.total(filled_quantity, filled_notional)
        added = self.total(filled_quantity + quantity, filled_notional + notional) - before
        return 0.0 if added < 0.0 else added  # max(added, 0.0)

    @classmethod
    def parse(cls, spec: Commission | CostSpec) -> Commission:
        """Read a commission from a number (percent), a string or a mapping (module grammar)."""
        if isinstance(spec, Commission):
            return spec
        if _is_none(spec):
            return cls()
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            return cls(percent=float(spec))
        if isinstance(spec, Mapping):
            return _from_mapping(cls, "commission", spec, {})
        if isinstance(spec, str):
            if "=" not in spec:
                return cls(percent=_number("commission", "percent", spec))
            return _from_mapping(cls, "commission", _pairs("commission", spec), {})
        raise ConfigError(f"commission: cannot read {spec!r}", hint="e.g. 0.001 or per_share=0.005")


@dataclass(frozen=True, slots=True)
class Slippage:
    """Adverse price impact on market and stop fills (limit fills are never slipped).

    A buy pays ``price * (1 + bps / 1e4) + range_fraction * (high - low)``; a sell
    receives ``price * (1 - bps / 1e4) - range_fraction * (high - low)``, never below 0.
    """

    bps: float = 0.0
    range_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check_non_negative("slippage", "bps", self.bps)
        _check_non_negative("slippage", "range_fraction", self.range_fraction)
        if self.bps >= 10_000:
            raise ConfigError(
                f"slippage bps must be below 10000 (100 %), got {self.bps}",
                hint="bps are hundredths of a percent: 5 means 0.05 %",
            )

    @property
    def is_zero(self) -> bool:
        return self.bps == 0.0 and self.range_fraction == 0.0

    def apply(self, price: float, side: Side, high: float, low: float) -> float:
        """``price`` moved against the trader of ``side`` on a bar spanning ``low..high``."""
        move = price * self.bps * 1e-4 + self.range_fraction * (high - low)
        if side is _BUY:
            return price + move
        moved = price - move
        return 0.0 if moved < 0.0 else moved  # max(moved, 0.0)

    @classmethod
    def parse(cls, spec: Slippage | CostSpec) -> Slippage:
        """Read a slippage from a number (bps), a string or a mapping (module grammar)."""
        if isinstance(spec, Slippage):
            return spec
        if _is_none(spec):
            return cls()
        aliases = {"range": "range_fraction"}
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            return cls(bps=float(spec))
        if isinstance(spec, Mapping):
            return _from_mapping(cls, "slippage", spec, aliases)
        if isinstance(spec, str):
            text = spec.strip().lower()
            if "=" not in text:
                text = text.removesuffix("bps")
                return cls(bps=_number("slippage", "bps", text))
            return _from_mapping(cls, "slippage", _pairs("slippage", text), aliases)
        raise ConfigError(f"slippage: cannot read {spec!r}", hint="e.g. 5bps or range=0.1")
