"""The folder a command writes its outputs into (``--out``): checked before any work, so a
path that is a file or a folder that cannot be written is one
:class:`~workbench.errors.ConfigError` naming it and the fix, never a traceback after the
run has been computed.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import ConfigError

__all__ = ["check_output_folder", "output_folder"]


def check_output_folder(path: str | Path, *, flag: str = "--out") -> Path:
    """Raise :class:`ConfigError` unless ``path`` is a folder, or could be made one, that
    this process may write into; creates nothing."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{flag} {folder} is a file, not a folder",
            hint=f"give {flag} a folder's path, or move the file away",
        )
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"{flag} {folder}: {existing} is a file, not a folder",
            hint=f"give {flag} a path whose parents are folders",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{flag} {folder}: {existing} is not writable",
            hint=f"check its permissions, or give {flag} another folder",
        )
    return folder


def output_folder(path: str | Path, *, flag: str = "--out") -> Path:
    """``path`` checked by :func:`check_output_folder`, created with its parents."""
    folder = check_output_folder(path, flag=flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{flag} {folder} cannot be created: {exc.strerror}",
            hint=f"check the disk and its permissions, or give {flag} another folder",
        ) from None
    return folder
