"""The run spec: everything that decides which trades a strategy makes, typed and frozen.

One :class:`RunSpec` describes a run whichever way it is run (backtest, live replay on
the simulated broker, an emulator session, live Alpaca; :mod:`workbench.compose` builds
each from it): the symbols, the bar timeframe (``None``: the bars as given, which only a
backtest of research data may say; a bundle's names one) and which bars count
(``session``: ``"regular"`` = the exchange's regular sessions only, ``"all"`` = every
bar), the calendar, the money and venue settings (cash, commission,
slippage, volume limit, lot size, margin), the risk rules and the execution policy.

Promotion writes it into the bundle's ``manifest.json`` (key ``run_spec``, in the shape
of :meth:`RunSpec.to_dict`), and the live runner reads it and nothing else for these
settings, so what was validated is what trades. :meth:`RunSpec.from_dict` refuses a
missing field or an unknown key by name: a spec that silently fell back to a default
would trade something other than what was promoted. The one exception is a field added
after bundles were first written (:data:`ADDED_LATER`): a bundle promoted before it has
none and reads as its default, which its backtest (a reconciliation, a re-run) gets too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from workbench.errors import ConfigError
from workbench.execution.config import ConflictPolicy, ExecutionConfig, RetryPolicy
from workbench.risk.config import RiskConfig
from workbench.sim.costs import Commission, Slippage
from workbench.timeframe import Timeframe, parse_timeframe

__all__ = ["ADDED_LATER", "SESSIONS", "ExecutionPolicy", "RunSpec"]

#: ``regular``: only bars inside the calendar's regular sessions count; ``all``: every bar.
SESSIONS = ("regular", "all")


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    """How intents become orders: what to do with a working order when the target moves
    (``cancel_replace`` or ``wait``), after how many failed submissions a symbol stops, and
    whether a bracket/oto entry that ends partly filled gets a protective exit for what it
    filled (:mod:`workbench.execution.protect`; on unless the bundle says false).

    Retry timing is not here: it is an operations setting of the venue connection
    (``--retry-delay``), not part of what the strategy trades.
    """

    conflict: ConflictPolicy = ConflictPolicy.CANCEL_REPLACE
    max_failures: int = 1
    protect_partial_fills: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "conflict", ConflictPolicy(self.conflict))
        except ValueError:
            raise ConfigError(
                f"execution.conflict {self.conflict!r} is not known",
                hint="use " + " or ".join(p.value for p in ConflictPolicy),
            ) from None
        m = self.max_failures
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError(f"execution.max_failures must be a whole number >= 1, got {m!r}")
        if not isinstance(self.protect_partial_fills, bool):
            raise ConfigError(
                "execution.protect_partial_fills must be true or false, "
                f"got {self.protect_partial_fills!r}"
            )

    def config(
        self, *, lot_size: float | None, retry: RetryPolicy | None = None
    ) -> ExecutionConfig:
        """The execution engine's settings for a run with this lot size and retry policy."""
        return ExecutionConfig(
            conflict=self.conflict,
            retry=retry or RetryPolicy(),
            max_failures=self.max_failures,
            lot_size=lot_size,
            protect_partial_fills=self.protect_partial_fills,
        )


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What a run trades and how; see the module docstring.

    Plain values are accepted where a type is expected (``timeframe="1Day"``,
    ``commission=0.001``, ``risk={"max_drawdown": 0.2}``) and converted on construction,
    with the same checks as everywhere else.
    """

    symbols: tuple[str, ...]
    timeframe: Timeframe | None
    session: str = "regular"
    calendar: str = "XNYS"
    cash: float = 100_000.0
    commission: Commission = field(default_factory=Commission)
    slippage: Slippage = field(default_factory=Slippage)
    volume_limit: float | None = None
    lot_size: float | None = None
    margin: float = 1.0
    risk: RiskConfig = field(default_factory=RiskConfig)
    execution: ExecutionPolicy = field(default_factory=ExecutionPolicy)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if isinstance(self.symbols, str) or not all(isinstance(s, str) and s for s in self.symbols):
            raise ConfigError(
                f"symbols must be a list of names, got {self.symbols!r}", hint='e.g. ["SPY"]'
            )
        put(self, "symbols", tuple(self.symbols))
        if self.timeframe is not None:
            put(self, "timeframe", parse_timeframe(self.timeframe))
        if self.session not in SESSIONS:
            raise ConfigError(
                f"session {self.session!r} is not known", hint="use " + " or ".join(SESSIONS)
            )
        if not (isinstance(self.calendar, str) and self.calendar):
            raise ConfigError(f"calendar must be a name, got {self.calendar!r}", hint="e.g. XNYS")
        put(self, "cash", _positive("cash", self.cash))
        put(self, "margin", _positive("margin", self.margin, hint="1.0 means no leverage"))
        if self.lot_size is not None:
            put(self, "lot_size", _positive("lot_size", self.lot_size, hint="1 = whole shares"))
        if self.volume_limit is not None:
            v = _positive("volume_limit", self.volume_limit)
            if v > 1:
                raise ConfigError(
                    f"volume_limit must be in (0, 1], got {v}",
                    hint="it is the largest share of a bar's volume one order may take",
                )
            put(self, "volume_limit", v)
        put(self, "commission", Commission.parse(self.commission))
        put(self, "slippage", Slippage.parse(self.slippage))
        put(self, "risk", RiskConfig.coerce(self.risk if self.risk is not None else {}))
        if isinstance(self.execution, Mapping):
            put(self, "execution", _build(ExecutionPolicy, self.execution, "execution."))
        elif not isinstance(self.execution, ExecutionPolicy):
            raise ConfigError(f"execution must be an ExecutionPolicy, got {self.execution!r}")

    # -- the manifest's shape ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, every field present; :meth:`from_dict` reads it back."""
        return {
            "symbols": list(self.symbols),
            "timeframe": None if self.timeframe is None else self.timeframe.name,
            "session": self.session,
            "calendar": self.calendar,
            "cash": self.cash,
            "commission": asdict(self.commission),
            "slippage": asdict(self.slippage),
            "volume_limit": self.volume_limit,
            "lot_size": self.lot_size,
            "margin": self.margin,
            "risk": self.risk.to_dict(),
            "execution": {
                "conflict": self.execution.conflict.value,
                "max_failures": self.execution.max_failures,
                "protect_partial_fills": self.execution.protect_partial_fills,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "run spec") -> RunSpec:
        """Every field must be there (a default would hide a promotion that forgot one), but
        those of :data:`ADDED_LATER`; unknown keys are refused. Errors name ``source`` and
        the field."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source} must be a mapping, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"{source}: unknown field(s) {', '.join(unknown)}",
                hint="known fields: " + ", ".join(names),
            )
        missing = [n for n in names if n not in data]
        for name, cls_ in _NESTED.items():  # a typed part must be whole too
            part = data.get(name)
            if isinstance(part, Mapping):
                absent = [f"{name}.{f.name}" for f in fields(cls_) if f.name not in part]
                missing += [n for n in absent if n not in ADDED_LATER]
        if missing:
            raise ConfigError(
                f"{source} is missing {', '.join(missing)}",
                hint="promote the strategy again with this workbench to record a full run spec",
            )
        try:
            return cls(**dict(data))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc.message}", hint=exc.hint) from None

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with ``changes`` applied (and checked)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return RunSpec(**values)


#: Fields a bundle promoted before they existed does not have: read as their default.
#: ``execution.protect_partial_fills`` (on): such a bundle's entries were protected by
#: the engine from the day the protection came, in its live runs and its backtests alike.
ADDED_LATER = frozenset({"execution.protect_partial_fills"})

#: The parts of the spec written as a mapping of every field of their type.
_NESTED: dict[str, type] = {
    "commission": Commission,
    "slippage": Slippage,
    "execution": ExecutionPolicy,
}


def _positive(name: str, value: Any, *, hint: str | None = None) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}", hint=hint)
    return float(value)


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(prefix + k for k in unknown)}",
            hint="known: " + ", ".join(prefix + k for k in known),
        )
    return cls(**dict(values))
