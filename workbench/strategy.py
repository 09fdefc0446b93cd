"""The Strategy base class and how strategies are found.

A strategy declares its parameters once (``params`` and ``constraints``), declares
its indicators in :meth:`Strategy.init`, and decides in :meth:`Strategy.on_bar`,
the single decision method, called after each bar closes. It acts only through
its :class:`~workbench.context.Context`, so the same object runs in a backtest,
a replay and live trading unchanged.

Strategies are found by name (``ma_crossover``, the built-in ones) or by import
path (``mypkg.mymod:MyStrategy``).
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from workbench.context import Context
from workbench.errors import ConfigError, StrategyError
from workbench.params import Param, ParamSpace

__all__ = ["BUILTIN", "Param", "ParamValues", "Strategy", "resolve_strategy"]


class ParamValues(Mapping[str, Any]):
    """Validated parameter values, read as attributes (``self.p.fast``) or as a mapping."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("parameters are read-only; create a new strategy instead")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._values.items())


class Strategy:
    """Base class. Subclasses set ``name``, ``params``, ``constraints`` and define ``on_bar``."""

    name: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    constraints: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.p = ParamValues(self.param_space().resolve(params, strategy=self.label()))

    @classmethod
    def label(cls) -> str:
        return cls.name or cls.__name__

    @classmethod
    def param_space(cls) -> ParamSpace:
        return ParamSpace(cls.params, cls.constraints)

    @classmethod
    def import_path(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def init(self, ctx: Context) -> None:
        """Declare indicators with ``ctx.indicator(...)``; called once before the first bar."""

    def on_bar(self, ctx: Context) -> None:
        """Decide on the bar that just closed; act through ``ctx``."""
        raise NotImplementedError(f"{type(self).__name__} must define on_bar(ctx)")

    def __repr__(self) -> str:
        return f"{self.label()}({self.p!r})"


#: Built-in strategies by name -> import path.
BUILTIN: dict[str, str] = {
    "ma_crossover": "workbench.strategies.ma_crossover:MACrossover",
    "equal_weight": "workbench.strategies.portfolio:EqualWeight",
    "momentum_rotation": "workbench.strategies.portfolio:MomentumRotation",
    "inverse_volatility": "workbench.strategies.portfolio:InverseVolatility",
}


def resolve_strategy(spec: str | type[Strategy] | Strategy) -> type[Strategy]:
    """A strategy class from a built-in name, ``module:Class``, a class, or an instance."""
    if isinstance(spec, Strategy):
        return type(spec)
    if inspect.isclass(spec):
        if issubclass(spec, Strategy):
            return spec
        raise ConfigError(f"{spec.__name__} is not a workbench Strategy subclass")
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"strategy {spec!r}: expected a name or module:Class")
    path = BUILTIN.get(spec, spec)
    module_name, sep, attr = path.partition(":")
    if not sep:
        raise ConfigError(
            f"unknown strategy {spec!r}",
            hint=f"built-in: {', '.join(BUILTIN)}; or an import path like mypkg.mymod:MyStrategy",
        )
    if not module_name or module_name.startswith(".") or not attr:
        raise ConfigError(
            f"strategy {spec!r}: expected module:Class", hint="e.g. mypkg.mymod:MyStrategy"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"strategy {spec!r}: cannot import {module_name} ({exc})") from None
    except Exception as exc:  # the module's own code failed as it was imported: a bug there
        raise StrategyError(
            f"strategy {spec!r}: importing {module_name} failed: {_failure(exc)}",
            hint=f"fix {module_name}, or run `python -c 'import {module_name}'` for the traceback",
        ) from None
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"strategy {spec!r}: {module_name} has no {attr}") from None
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError(f"strategy {spec!r} is not a workbench Strategy subclass")
    return cls


def _failure(exc: Exception) -> str:
    """An exception in one line, with the file and line it was raised at."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def make_strategy(
    spec: str | type[Strategy] | Strategy, params: Mapping[str, Any] | None = None
) -> Strategy:
    """An instance of ``spec`` with validated ``params`` (an instance passes through if none)."""
    if isinstance(spec, Strategy) and not params:
        return spec
    cls = resolve_strategy(spec)
    try:
        return cls(**dict(params or {}))
    except (ConfigError, StrategyError):
        raise
    except TypeError as exc:
        raise StrategyError(f"cannot create {cls.__name__}: {exc}") from None
