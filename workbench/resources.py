"""Files the package ships and reads at run time (notebook templates), found through
``importlib.resources`` so they work from a wheel as from the checkout.

The templates live in ``workbench/templates/`` (package data): papermill needs a path on
disk, which an installed (unzipped) package has; a zipped one is extracted once.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from pathlib import Path

from workbench.errors import ConfigError

__all__ = ["template_names", "template_path"]

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def template_names() -> list[str]:
    """The notebook templates shipped with the package (``backtest_run.ipynb``, ...)."""
    folder = files("workbench") / "templates"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".ipynb"))


def template_path(name: str) -> Path:
    """A path on disk to the shipped template ``name`` (with or without ``.ipynb``)."""
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    ref = files("workbench") / "templates" / name
    if not ref.is_file():
        raise ConfigError(
            f"workbench ships no notebook template {name}",
            hint=f"choose one of {', '.join(template_names())}, or give a notebook's path",
        )
    if isinstance(ref, Path):
        return ref
    return _extracted.enter_context(as_file(ref))  # pragma: no cover - zipped installs only
