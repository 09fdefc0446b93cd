"""A sweep's grid: each parameter's values, validated, and every valid combination of them.

``expand_grid`` turns ``{"fast": range(5, 101, 5), "slow": [50, 100]}`` into the
combinations a sweep runs (each value validated by the strategy's parameter space, the
fixed parameters added, the combinations that break a declared constraint such as
``fast < slow`` set apart as skipped); ``parse_grid`` reads the CLI's ``--grid
fast=5:100:5`` form. Used by :func:`workbench.research.sweep.sweep`, the walk-forward plan
and the widgets.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from workbench.errors import ConfigError, ParameterError
from workbench.params import ParamSpace

__all__ = ["expand_grid", "grid_axes", "parse_grid"]


def expand_grid(
    space: ParamSpace,
    grid: Mapping[str, Any],
    fixed: Mapping[str, Any] | None = None,
    *,
    strategy: str = "",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(valid combinations, skipped ones): every value validated, constraints applied."""
    axes, base = grid_axes(space, grid, fixed, strategy=strategy)
    valid: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for combo in itertools.product(*axes.values()):
        values = dict(base)
        values.update(zip(axes, combo, strict=True))
        (skipped if space.violated(values) else valid).append(values)
    if not valid:
        rules = ", ".join(c.text for c in space.constraints)
        where = f" of {strategy}" if strategy else ""
        raise ConfigError(
            f"none of the {len(skipped)} combinations{where} satisfies {rules}",
            hint="widen the grid so that some combinations satisfy the constraints",
        )
    return valid, skipped


def grid_axes(
    space: ParamSpace,
    grid: Mapping[str, Any],
    fixed: Mapping[str, Any] | None = None,
    *,
    strategy: str = "",
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """(each swept parameter's validated values, every parameter's base value)."""
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(
            "the grid is empty", hint='e.g. grid={"fast": range(5, 101, 5), "slow": [50, 100]}'
        )
    where = f" of {strategy}" if strategy else ""
    fixed = dict(fixed or {})
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ConfigError(
            f"{', '.join(both)} given both in the grid and as fixed params",
            hint="put each parameter in one of them",
        )
    unknown = sorted((set(grid) | set(fixed)) - set(space.params))
    if unknown:
        known = ", ".join(f"{n} ({p.describe()})" for n, p in space.params.items())
        raise ParameterError(f"unknown parameter(s){where}: {', '.join(unknown)}", hint=known)
    axes: dict[str, list[Any]] = {}
    for name, values in grid.items():
        items = _values(name, values)
        axes[name] = list(dict.fromkeys(space.params[name].validate(v) for v in items))
    base = space.defaults()
    base.update({n: space.params[n].validate(v) for n, v in fixed.items()})
    return axes, base


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """CLI grid: ``fast=5:100:5`` (start:stop:step, stop included), ``slow=50,100,200``, ``x=1``."""
    out: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise ConfigError(
                f"--grid {item!r}: expected NAME=START:STOP:STEP or NAME=V1,V2,...",
                hint="e.g. --grid fast=5:100:5 --grid slow=50,100,200",
            )
        if name in out:
            raise ConfigError(f"--grid {name} given twice", hint="give each parameter once")
        out[name] = _parse_values(name, text.strip())
    return out


def _parse_values(name: str, text: str) -> list[Any]:
    if ":" not in text:
        return [_number(name, v.strip()) for v in text.split(",") if v.strip()]
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"--grid {name}={text}: expected START:STOP or START:STOP:STEP")
    start, stop = _number(name, parts[0]), _number(name, parts[1])
    step = _number(name, parts[2]) if len(parts) == 3 else 1
    if not isinstance(start, int | float) or not isinstance(stop, int | float):
        raise ConfigError(f"--grid {name}={text}: START and STOP must be numbers")
    if not isinstance(step, int | float) or step <= 0:
        raise ConfigError(f"--grid {name}={text}: STEP must be a positive number")
    if stop < start:
        raise ConfigError(f"--grid {name}={text}: STOP is below START")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > 1_000_000:
        raise ConfigError(f"--grid {name}={text}: {count} values is too many")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return list(range(start, stop + 1, step))  # type: ignore[arg-type]
    return [round(start + k * step, 12) for k in range(count)]


def _number(name: str, text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text  # a bool or string parameter: the parameter validates it


def _values(name: str, values: Any) -> list[Any]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        return [values]
    items = list(values)
    if not items:
        raise ConfigError(f"grid {name}: no values", hint="give at least one value")
    return items
