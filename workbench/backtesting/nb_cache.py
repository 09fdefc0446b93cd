"""Keep numba's on-disk cache of a kernel honest when a file it depends on changes.

numba's ``cache=True`` keys a compiled kernel on its own source file only (a hash of its
content): a change to an ``@njit`` step it calls from another module, or to a constant it
imports, leaves the cached machine code in place, and the kernel runs the old step
(numba's documented limit, "Cache invalidation"). The fast path's kernels are built from
steps in other modules (:mod:`~workbench.backtesting.fill_nb`,
:mod:`~workbench.backtesting.exits_nb`) with tolerances owned elsewhere, so each kernel
module ends with :func:`refresh`: it fingerprints the sources it depends on (and what
they depend on, followed through their own ``refresh``) and, when the fingerprint
differs from the one stored beside the module's cache, empties the index of each of
its kernels, so numba compiles them again on first use and caches the new code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["refresh"]

#: Set on each refreshed module: the source files its kernels are built from.
SOURCES = "__kernel_sources__"


def refresh(namespace: MutableMapping[str, Any], dependencies: Iterable[ModuleType]) -> bool:
    """Call at the end of a kernel module with ``globals()``; True when caches were emptied.

    Costs reading and hashing the dependencies' sources (a few kB) once per import.
    A cache that cannot be written (a read-only install) is left as it is.
    """
    sources: set[str] = set()
    for dep in dependencies:
        sources.update(getattr(dep, SOURCES, ()))
        if getattr(dep, "__file__", None):
            sources.add(str(Path(dep.__file__).resolve()))
    namespace[SOURCES] = frozenset(sources | {str(Path(namespace["__file__"]).resolve())})
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    fingerprint = digest.hexdigest()
    caches = [  # the module's own kernels (not those it imported)
        cache
        for value in namespace.values()
        if getattr(getattr(value, "py_func", None), "__module__", None) == namespace["__name__"]
        and (cache := getattr(value, "_cache", None)) is not None
        and hasattr(cache, "flush")
    ]
    if not caches:
        return False
    stamp = Path(caches[0].cache_path) / f"{namespace['__name__']}.sources"
    try:
        if stamp.exists() and stamp.read_text() == fingerprint:
            return False
        for cache in caches:
            cache.flush()
        stamp.write_text(fingerprint)
    except OSError:
        return False
    return True
