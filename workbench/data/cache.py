"""A Parquet cache for bars fetched from remote sources (used by ``alpaca:``).

Entries are keyed by source, symbol, timeframe and the requested UTC range, and laid out as::

    ROOT/bars/<source>/<symbol>/<timeframe>/<start>_<end>.parquet

``ROOT`` is ``$WORKBENCH_CACHE`` if set, else ``~/.cache/workbench``. Names are
percent-encoded, so ``BTC/USD`` is a safe directory. :meth:`BarCache.get` returns an exact
entry, or a slice of a cached entry whose range covers the request. Writes go to a temporary
file in the same directory and are moved into place with ``os.replace``, so a reader never
sees half a file, and a crash leaves at worst a stray ``.tmp`` file. Parquet keeps the UTC
index, the dtypes and ``attrs`` (symbol, source). An unreadable entry is logged and treated
as a miss.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd

from workbench.data.bars import as_bars
from workbench.data.spec import to_utc
from workbench.errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "WORKBENCH_CACHE"
_STAMP = "%Y%m%dT%H%M%S%fZ"


def default_root() -> Path:
    """``$WORKBENCH_CACHE`` or ``~/.cache/workbench``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "workbench"


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[str]:
    """A temporary file next to ``path`` (its folder made) to write, moved onto ``path`` when
    the block ends, removed if it raises: a reader sees the old file or the whole new one,
    and a crash leaves at worst a stray ``.tmp`` file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class CacheEntry:
    """One cached file and the key it was stored under."""

    source: str
    symbol: str
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    path: Path


class BarCache:
    """Bars on disk, keyed by ``(source, symbol, timeframe, start, end)``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"BarCache({str(self.root)!r})"

    def path_for(self, source: str, symbol: str, timeframe: str, start: Any, end: Any) -> Path:
        """Where the entry for this key lives (whether or not it exists)."""
        lo, hi = _bounds(start, end)
        name = f"{lo.strftime(_STAMP)}_{hi.strftime(_STAMP)}.parquet"
        return self._dir(source, symbol, timeframe) / name

    def get(
        self, source: str, symbol: str, timeframe: str, start: Any, end: Any
    ) -> pd.DataFrame | None:
        """The cached bars for this key, or None: an exact entry, else a covering one sliced."""
        lo, hi = _bounds(start, end)
        exact = self.path_for(source, symbol, timeframe, lo, hi)
        candidates = [exact] if exact.is_file() else []
        candidates += [
            e.path
            for e in self._entries_in(
                self._dir(source, symbol, timeframe), source, symbol, timeframe
            )
            if e.start <= lo and e.end >= hi and e.path != exact
        ]
        for path in candidates:
            frame = self._read(path)
            if frame is None:
                continue
            if path != exact:
                frame = frame[(frame.index >= lo) & (frame.index <= hi)]
            log.debug("cache hit %s", path)
            return frame
        return None

    def put(
        self,
        source: str,
        symbol: str,
        timeframe: str,
        start: Any,
        end: Any,
        bars: pd.DataFrame,
    ) -> Path:
        """Store ``bars`` under the key, atomically; returns the file written."""
        frame = as_bars(bars, name=f"cache {source}/{symbol}")
        frame.attrs = {**bars.attrs, "symbol": bars.attrs.get("symbol", symbol)}
        path = self.path_for(source, symbol, timeframe, start, end)
        with replaced_atomically(path) as tmp:
            frame.to_parquet(tmp)
        log.debug("cached %d bars in %s", len(frame), path)
        return path

    def entries(self) -> list[CacheEntry]:
        """Every entry in the cache."""
        base = self.root / "bars"
        out: list[CacheEntry] = []
        if not base.is_dir():
            return out
        for tf_dir in base.glob("*/*/*"):
            if tf_dir.is_dir():
                source, symbol, timeframe = (unquote(p) for p in tf_dir.parts[-3:])
                out.extend(self._entries_in(tf_dir, source, symbol, timeframe))
        return out

    def clear(self, source: str | None = None) -> int:
        """Delete the entries (of one source, or all); returns how many files went."""
        removed = 0
        for entry in self.entries():
            if source is None or entry.source == source:
                entry.path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _dir(self, source: str, symbol: str, timeframe: str) -> Path:
        parts = (source.lower(), symbol.upper(), timeframe)
        if not all(p.strip() for p in parts):
            raise ConfigError("cache key has an empty part", hint="give source, symbol, timeframe")
        return self.root.joinpath("bars", *(quote(p, safe="") for p in parts))

    @staticmethod
    def _entries_in(
        directory: Path, source: str, symbol: str, timeframe: str
    ) -> Iterator[CacheEntry]:
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.parquet")):
            lo, _, hi = path.stem.partition("_")
            try:
                start = pd.to_datetime(lo, format=_STAMP, utc=True)
                end = pd.to_datetime(hi, format=_STAMP, utc=True)
            except ValueError:
                continue
            yield CacheEntry(source, symbol, timeframe, start, end, path)

    @staticmethod
    def _read(path: Path) -> pd.DataFrame | None:
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # a corrupt entry must not break a run: refetch instead
            log.warning("ignoring unreadable cache file %s: %s", path, exc)
            return None


def _bounds(start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo, hi = to_utc(start, name="start"), to_utc(end, name="end")
    if lo is None or hi is None:
        raise ConfigError("a cache key needs both start and end", hint="pass the fetched range")
    return lo, hi
