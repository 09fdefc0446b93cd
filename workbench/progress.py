"""Progress bars that cost nothing when hidden.

``tqdm(..., disable=True)`` still registers the bar with tqdm's class, which starts tqdm's
monitor thread and creates its multiprocessing lock (a named semaphore) in the process:
a thread in a walk-forward's zygote, which forks kernels and must have none, and a thread
and a semaphore in every fold kernel, for bars nobody sees. :func:`progress` gives tqdm
only when the bar is shown, and otherwise a stand-in that counts and shows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["Hidden", "progress"]


class Hidden:
    """A bar not shown: iterates what it wraps, counts updates, draws nothing."""

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None) -> None:
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable if self.iterable is not None else ():
            self.n += 1
            yield item

    def __enter__(self) -> Hidden:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        """Nothing to take off the screen."""


def progress(iterable: Iterable[Any] | None = None, *, show: bool = True, **options: Any) -> Any:
    """``tqdm(iterable, **options)`` when ``show``, else a :class:`Hidden` bar."""
    if not show:
        return Hidden(iterable, options.get("total"))
    from tqdm.auto import tqdm

    return tqdm(iterable, **options)
