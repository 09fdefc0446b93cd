"""``python -m workbench.warmup`` (run by ``make install``) compiles every kernel step it names."""

from __future__ import annotations

import pytest

from workbench.warmup import STEPS, warm_up

pytestmark = pytest.mark.slow


def test_every_step_runs_and_is_timed() -> None:
    seconds = warm_up(progress=False)
    assert list(seconds) == [what for what, _ in STEPS]
    assert all(s >= 0 for s in seconds.values())
