"""An exchange calendar's sessions kept on disk for the day, so a fresh process reads them.

Building a calendar with ``exchange_calendars`` costs about 0.2 s in every fresh process
(its import, then its holiday rules evaluated over centuries for the business-day offset):
each walk-forward fold kernel, the zygote its kernels are forked from, a live runner's
start, a CLI backtest on session bars. The sessions it yields (each session's date, open
and close, in UTC nanoseconds) are three small integer arrays; they are kept as one
``.npy`` file per calendar, first year, library version and UTC day built::

    ROOT/sessions/<NAME>-<first year>-<exchange_calendars version>-<YYYYMMDD>.npy

``ROOT`` is the bar cache's (``$WORKBENCH_CACHE``, else ``~/.cache/workbench``). A new day
or a new library version builds anew (the library's calendars end a year after the day
they are built, and a new version may add holidays); writing a file removes that
calendar's files of earlier days. Writes are atomic (a temporary file moved into place);
an unreadable file is a miss, and a cache that cannot be written is skipped: the sessions
are then built as before, never wrong, at worst slower.
"""

from __future__ import annotations

import contextlib
import logging
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from workbench.data.cache import default_root, replaced_atomically

log = logging.getLogger(__name__)

#: The arrays kept: session dates, opens and closes (int64 ns, UTC), one row each.
ROWS = 3


def path_for(name: str, first_year: int, root: Path | None = None) -> Path:
    """Where today's sessions of ``name`` from ``first_year`` are kept."""
    try:
        version = metadata.version("exchange_calendars")
    except metadata.PackageNotFoundError:
        version = "none"
    day = pd.Timestamp.now(tz="UTC").strftime("%Y%m%d")
    folder = (root or default_root()) / "sessions"
    return folder / f"{quote(name, safe='')}-{first_year}-{version}-{day}.npy"


def load(path: Path) -> np.ndarray | None:
    """The kept ``ROWS x sessions`` array at ``path``, or None (absent or unreadable)."""
    try:
        rows = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.debug("unreadable sessions file %s: %r", path, exc)
        return None
    if rows.ndim != 2 or rows.shape[0] != ROWS or rows.dtype != np.int64:
        log.debug("sessions file %s has the wrong shape or type", path)
        return None
    return rows


def store(path: Path, rows: np.ndarray) -> None:
    """Keep ``rows`` at ``path`` atomically, and remove that calendar's older files."""
    prefix = path.name.rsplit("-", 2)[0] + "-"  # NAME-YEAR-
    try:
        with replaced_atomically(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(rows, dtype=np.int64), allow_pickle=False)
    except OSError as exc:
        log.debug("sessions not kept in %s: %r", path.parent, exc)
        return
    for old in path.parent.glob(f"{prefix}*.npy"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()
