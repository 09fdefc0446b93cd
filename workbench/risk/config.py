"""The risk configuration: one frozen, typed dataclass per rule, loaded from YAML or TOML.

Every rule is off unless configured. Fractions are written as fractions (``0.15`` is 15%;
``1`` as a drawdown, daily loss or risk per trade is refused: it reads as 1%);
money is in the account currency. Unknown keys are errors (a typo must never silently
disable a limit), and every value is range-checked where it is built, so a config made
in Python is held to the same rules as one read from a file. ``examples/risk.yaml``
documents every key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from numbers import Real
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.yamlerror import describe, read_text

__all__ = ["Correlation", "GroupExposure", "PositionSizing", "RiskConfig"]


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    return float(value)


def _fraction(where: str, value: Any) -> float:
    v = _number(where, value)
    if not 0 < v <= 1:
        raise ConfigError(
            f"{where} must be a fraction in (0, 1], got {value!r}",
            hint="write 0.15 for 15%",
        )
    return v


def _loss_fraction(where: str, value: Any) -> float:
    """A share of equity to lose: a fraction in (0, 1). ``1`` is refused, for it reads as
    "1%" (the 1% rule) while it would mean all of it: a limit that never acts, or a
    trade that may lose the whole account."""
    v = _fraction(where, value)
    if v == 1:
        raise ConfigError(
            f"{where} must be a fraction below 1, got {value!r}: that is 100%, not 1%",
            hint="write 0.01 for 1%",
        )
    return v


def _positive(where: str, value: Any) -> float:
    v = _number(where, value)
    if v <= 0:
        raise ConfigError(f"{where} must be positive, got {value!r}")
    return v


def _count(where: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where} must be a whole number >= {low}, got {value!r}")
    return value


def _optional(check: Any, where: str, value: Any) -> Any:
    return None if value is None else check(where, value)


@dataclass(frozen=True, slots=True)
class PositionSizing:
    """Size entries by risk and cap positions.

    ``risk_per_trade``: the most a position may lose if its stop is hit, as a fraction
    of equity: quantity <= equity * risk_per_trade / |entry - stop|. The stop is the
    strategy's (``ctx.target(..., stop=)`` / ``protective_stop=``) or ``atr_multiple``
    ATR(``atr_period``) away from the entry. ``max_position_notional`` and
    ``max_position_fraction`` cap a position's value (money, fraction of equity).
    """

    risk_per_trade: float | None = None
    atr_period: int = 14
    atr_multiple: float = 2.0
    max_position_notional: float | None = None
    max_position_fraction: float | None = None

    def __post_init__(self) -> None:
        w = "position_sizing"
        _optional(_loss_fraction, f"{w}.risk_per_trade", self.risk_per_trade)
        _count(f"{w}.atr_period", self.atr_period)
        _positive(f"{w}.atr_multiple", self.atr_multiple)
        _optional(_positive, f"{w}.max_position_notional", self.max_position_notional)
        _optional(_fraction, f"{w}.max_position_fraction", self.max_position_fraction)


@dataclass(frozen=True, slots=True)
class GroupExposure:
    """Caps on the gross exposure of groups of symbols: ``groups`` maps symbol -> group,
    ``limits`` maps group -> largest fraction of equity its symbols may hold together.

    ``groups: gics`` takes the GICS sectors shipped for ``sample:SP500``
    (:func:`workbench.data.sp500.gics_sectors`); ``default`` is the limit of every group
    that ``limits`` does not name."""

    groups: Mapping[str, str] | str = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)
    default: float | None = None

    def __post_init__(self) -> None:
        w = "group_exposure"
        if not isinstance(self.groups, Mapping | str):
            raise ConfigError(
                f"{w}.groups must map symbols to groups, or be 'gics', got {self.groups!r}",
                hint="e.g. groups: {AAPL: tech, XOM: energy}",
            )
        if not isinstance(self.limits, Mapping):
            raise ConfigError(
                f"{w}.limits must map groups to fractions of equity, got {self.limits!r}",
                hint="e.g. limits: {tech: 0.3, energy: 0.2}, or default: 0.3 for every group",
            )
        if isinstance(self.groups, str):
            if self.groups.strip().lower() != "gics":
                raise ConfigError(
                    f"{w}.groups must map symbols to groups, or be 'gics', got {self.groups!r}",
                    hint="groups: gics uses the GICS sectors of the sample:SP500 stocks",
                )
            from workbench.data.sp500 import gics_sectors

            object.__setattr__(self, "groups", gics_sectors())
        _optional(_fraction, f"{w}.default", self.default)
        if self.default is not None:
            full = {g: self.default for g in self.groups.values()}
            object.__setattr__(self, "limits", {**full, **self.limits})
        for sym, group in self.groups.items():
            if not isinstance(sym, str) or not isinstance(group, str) or not sym or not group:
                raise ConfigError(f"{w}.groups maps symbol names to group names, got {sym!r}")
        for group, limit in self.limits.items():
            _fraction(f"{w}.limits.{group}", limit)
        unknown = sorted(set(self.limits) - set(self.groups.values()))
        if unknown:
            raise ConfigError(
                f"{w}.limits names group(s) with no symbol: {', '.join(unknown)}",
                hint="map symbols to them in group_exposure.groups",
            )
        unlimited = sorted(set(self.groups.values()) - set(self.limits))
        if unlimited:
            raise ConfigError(
                f"{w}: group(s) without a limit: {', '.join(unlimited)}",
                hint="add them to group_exposure.limits",
            )


@dataclass(frozen=True, slots=True)
class Correlation:
    """Symbols whose returns correlate above ``threshold`` with a candidate (over the last
    ``lookback`` bars, returns close to close) may hold, together with the candidate, at most
    ``max_fraction`` of equity. Pairs with fewer than ``min_periods`` common returns are
    treated as uncorrelated (default: the whole lookback)."""

    lookback: int = 60
    threshold: float = 0.7
    max_fraction: float = 0.5
    min_periods: int | None = None

    def __post_init__(self) -> None:
        w = "correlation"
        _count(f"{w}.lookback", self.lookback, low=3)
        t = _number(f"{w}.threshold", self.threshold)
        if not -1 <= t < 1:
            raise ConfigError(f"{w}.threshold must be in [-1, 1), got {self.threshold!r}")
        _fraction(f"{w}.max_fraction", self.max_fraction)
        if self.min_periods is not None:
            _count(f"{w}.min_periods", self.min_periods, low=3)
            if self.min_periods > self.lookback:
                raise ConfigError(
                    f"{w}.min_periods ({self.min_periods}) exceeds lookback ({self.lookback})"
                )

    @property
    def periods(self) -> int:
        return self.min_periods if self.min_periods is not None else self.lookback


_SECTIONS: dict[str, type] = {
    "position_sizing": PositionSizing,
    "group_exposure": GroupExposure,
    "correlation": Correlation,
}


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Every risk rule; ``None`` leaves a rule off. See ``examples/risk.yaml``.

    - ``max_drawdown``: halt, cancel every order and liquidate when equity falls this
      fraction below its peak (``drawdown >= limit``); stays halted until a person resets it.
    - ``daily_loss_limit``: when the loss since the trading day began (midnight on the
      calendar's clock: New York's for ``XNYS``, UTC's for ``24/7``) exceeds this fraction
      of the start-of-day equity, cancel every order but the protective exits of open
      positions and refuse entries until the next trading day (exits pass).
    - ``max_order_notional``, ``max_orders_per_day``, ``max_open_positions``: plain caps.
    - ``kill_switch_file``: halt at the next bar when this file exists;
      ``liquidate_on_kill``: a kill switch also liquidates (default) or only halts.
    """

    position_sizing: PositionSizing | None = None
    max_drawdown: float | None = None
    daily_loss_limit: float | None = None
    group_exposure: GroupExposure | None = None
    correlation: Correlation | None = None
    max_order_notional: float | None = None
    max_orders_per_day: int | None = None
    max_open_positions: int | None = None
    kill_switch_file: str | None = None
    liquidate_on_kill: bool = True

    def __post_init__(self) -> None:
        _optional(_loss_fraction, "max_drawdown", self.max_drawdown)
        _optional(_loss_fraction, "daily_loss_limit", self.daily_loss_limit)
        _optional(_positive, "max_order_notional", self.max_order_notional)
        _optional(_count, "max_orders_per_day", self.max_orders_per_day)
        _optional(_count, "max_open_positions", self.max_open_positions)
        if self.kill_switch_file is not None and not (
            isinstance(self.kill_switch_file, str) and self.kill_switch_file
        ):
            raise ConfigError(f"kill_switch_file must be a path, got {self.kill_switch_file!r}")
        if not isinstance(self.liquidate_on_kill, bool):
            raise ConfigError(
                f"liquidate_on_kill must be true or false, got {self.liquidate_on_kill!r}"
            )
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, cls):
                raise ConfigError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> RiskConfig:
        """Read ``path`` (.yaml, .yml or .toml); errors name the file and the key."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".yaml", ".yml", ".toml"):
            raise ConfigError(
                f"risk config {path}: unknown format {suffix or '(no suffix)'!r}",
                hint="use a .yaml, .yml or .toml file",
            )
        text = read_text(path, "risk config")
        try:
            if suffix == ".toml":
                data = tomllib.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:
            raise ConfigError(
                f"risk config {path} is not valid {suffix[1:]}: {describe(exc)}",
                hint="fix that line (examples/risk.yaml shows every rule)",
            ) from None
        return cls.from_dict({} if data is None else data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "risk config") -> RiskConfig:
        """Build from a mapping (a parsed file); unknown keys name the known ones."""
        try:
            if not isinstance(data, Mapping):
                raise ConfigError(f"expected a mapping of rules, got {type(data).__name__}")
            _known(data, cls, "")
            kwargs: dict[str, Any] = {}
            for key, value in data.items():
                section = _SECTIONS.get(key)
                if section is not None and value is not None:
                    if not isinstance(value, Mapping):
                        raise ConfigError(f"{key} must be a mapping of settings, got {value!r}")
                    _known(value, section, f"{key}.")
                    if section is GroupExposure:  # its own checks name a wrong shape
                        value = {
                            k: dict(v) if isinstance(v, Mapping) else ({} if v is None else v)
                            for k, v in value.items()
                        }
                        for k, v in value.items():
                            if isinstance(v, dict) and not all(isinstance(x, str) for x in v):
                                raise ConfigError(f"group_exposure.{k} keys must be names")
                    kwargs[key] = section(**value)
                else:
                    kwargs[key] = value
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc.message}", hint=exc.hint) from None

    @classmethod
    def coerce(cls, value: RiskConfig | Mapping[str, Any] | str | Path) -> RiskConfig:
        """A RiskConfig from itself, a mapping, or a path to a file."""
        if isinstance(value, RiskConfig):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, str | Path):
            return cls.load(value)
        raise ConfigError(
            f"risk must be a RiskConfig, a mapping or a path, got {type(value).__name__}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The configured rules only, in the shape :meth:`from_dict` reads."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "liquidate_on_kill" and value is True):
                continue
            if f.name in _SECTIONS:
                value = {
                    g.name: (dict(v) if isinstance(v, Mapping) else v)
                    for g in fields(value)
                    if (v := getattr(value, g.name)) is not None
                }
            out[f.name] = value
        return out

    @property
    def enabled(self) -> list[str]:
        """Names of the configured rules."""
        return [k for k in self.to_dict() if k != "liquidate_on_kill"]


def _known(data: Mapping[str, Any], cls: type, prefix: str) -> None:
    known = [f.name for f in fields(cls)]
    for key in data:
        if key not in known:
            raise ConfigError(
                f"unknown key {prefix}{key}",
                hint=f"known keys{' of ' + prefix[:-1] if prefix else ''}: {', '.join(known)}",
            )
