"""Suite-wide ordering: the long modules first.

``make test`` runs on pytest-xdist workers, each module (a notebook, a class) a unit of work
handed out in collection order (``--dist loadscope --no-loadscope-reorder``). The suite ends
when the last unit ends, so the long ones, marked ``slow`` (the wheel in a fresh environment,
the demo, the browser and notebook runs, the crash and outage replays), are collected first
and the many short units fill the workers' gaps at the end. Within each group the order is
unchanged; in one process the order does not matter either (every test stands alone).
"""

from __future__ import annotations

import selectors
from collections.abc import Callable
from typing import IO

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: False (slow) first


@pytest.fixture
def first_line() -> Callable[[IO[str], float], str]:
    """Read the first line a pipe gives within a number of seconds ('' if none came): a
    server's "listening on ..." line, waited for rather than slept on."""

    def read(stream: IO[str], within: float) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            return stream.readline() if selector.select(timeout=within) else ""

    return read
