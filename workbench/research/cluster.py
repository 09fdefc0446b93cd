"""Work spread over a Dask distributed cluster: the connection, and a sweep's combinations.

``sweep(..., scheduler="tcp://host:8786")`` (or a ``distributed.Client``) cuts the
combinations into contiguous chunks, sends the bars once to every worker (scattered,
broadcast), runs each chunk with the same function a local sweep runs, and puts the
results back in the combinations' order: every column of a sweep is computed on its own,
so the result equals a local run's, bit for bit. Workers need workbench installed (and
the strategy's module importable, for ``module:Class`` strategies).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.progress import progress as progress_bar

__all__ = ["CONNECT_TIMEOUT", "concat_results", "dask_client", "map_combinations"]

CONNECT_TIMEOUT = "20s"
#: Chunks per worker thread: enough to balance uneven chunks, few enough to stay cheap.
CHUNKS_PER_THREAD = 2


@contextmanager
def dask_client(scheduler: Any, timeout: str | None = None) -> Iterator[Any]:
    """A client of ``scheduler`` (an address, or a Client used as is and left open)."""
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    try:
        client = Client(scheduler, timeout=timeout or CONNECT_TIMEOUT)
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler}: {exc}",
            hint="start one with `dask scheduler` (and workers with `dask worker ADDRESS`)",
        ) from None
    try:
        yield client
    finally:
        client.close()


def map_combinations(
    scheduler: Any,
    run: Callable[..., tuple[Any, ...]],
    head: tuple[Any, ...],
    data: Any,
    combos: Sequence[dict[str, Any]],
    *,
    label: str,
    progress: bool,
    **kwargs: Any,
) -> list[tuple[Any, ...]]:
    """``run(*head, data, chunk, **kwargs)`` for contiguous chunks of ``combos``, on the cluster.

    Returns the chunks' results in the combinations' order. ``data`` (the bars) is sent
    once to every worker.
    """
    from distributed import as_completed

    with dask_client(scheduler) as client:
        threads = max(1, sum(client.nthreads().values()))
        n_chunks = max(1, min(len(combos), threads * CHUNKS_PER_THREAD))
        bounds = np.linspace(0, len(combos), n_chunks + 1).round().astype(int).tolist()
        shared = client.scatter(data, broadcast=True)
        sizes = {}
        futures = []
        for lo, hi in itertools.pairwise(bounds):
            chunk = list(combos[lo:hi])
            future = client.submit(run, *head, shared, chunk, pure=False, progress=False, **kwargs)
            futures.append(future)
            sizes[future.key] = hi - lo
        desc = f"{label} on {threads} Dask threads"
        with progress_bar(total=len(combos), desc=desc, unit="combo", show=progress) as bar:
            for future in as_completed(futures):
                bar.update(sizes[future.key])
        return client.gather(futures)


def concat_results(
    parts: Sequence[tuple[Any, ...]],
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(metrics, returns) of chunks, joined as one local run returns them."""
    metrics = pd.concat([p[0] for p in parts], ignore_index=True)
    if parts[0][1] is None:
        return metrics, None
    returns = pd.concat([p[1] for p in parts], axis=1)
    returns.columns = pd.RangeIndex(returns.shape[1], name="trial")
    return metrics, returns
