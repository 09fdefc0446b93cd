"""The data layer: load bars from a spec string, check them, clean them, resample them.

::

    from workbench.data import load_bars, validate
    spx = load_bars("sample:SPX", start="2010-01-01")
    print(validate(spx))

Modules: :mod:`~workbench.data.bars` (the format), :mod:`~workbench.data.spec` and
:mod:`~workbench.data.sources` (spec strings and the source registry), ``samples``,
``csvfiles`` and ``synthetic`` (the built-in sources), :mod:`~workbench.data.quality`
(checks and explicit cleaning), :mod:`~workbench.data.resample`, :mod:`~workbench.data.cache`.

Names are loaded lazily so that importing this package does not import pandas.
``resample`` is not re-exported here because it is also the name of the submodule; use
``workbench.resample`` or ``from workbench.data.resample import resample``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "load_bars": "workbench.data.sources",
    "load_symbols": "workbench.data.sources",
    "register_source": "workbench.data.sources",
    "SOURCES": "workbench.data.sources",
    "SourceRequest": "workbench.data.spec",
    "synthetic_bars": "workbench.data.synthetic",
    "load_sample": "workbench.data.samples",
    "validate": "workbench.data.quality",
    "clean": "workbench.data.quality",
    "CleanPolicy": "workbench.data.quality",
    "QualityReport": "workbench.data.quality",
    "BarCache": "workbench.data.cache",
    "as_bars": "workbench.data.bars",
    "as_symbol_map": "workbench.data.bars",
    "to_multiframe": "workbench.data.bars",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
