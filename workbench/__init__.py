"""workbench: from an idea in a notebook to a small bot trading real money.

The top-level names are loaded lazily so that ``import workbench`` stays fast:
pandas is imported on first use, vectorbt only by the vectorized path.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

# A library logs; the application decides where it goes (the CLI and the live runner
# configure handlers, workbench.logs). Without this, Python's last-resort handler prints
# every warning to stderr: in a notebook, a red box per risk event.
logging.getLogger("workbench").addHandler(logging.NullHandler())

_EXPORTS: dict[str, str] = {
    "load_bars": "workbench.data.sources",
    "validate": "workbench.data.quality",
    "clean": "workbench.data.quality",
    "resample": "workbench.data.resample",
    "backtest": "workbench.backtesting.api",
    "Strategy": "workbench.strategy",
    "Param": "workbench.strategy",
    "sweep": "workbench.research.sweep",
    "check_parity": "workbench.research.parity",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
