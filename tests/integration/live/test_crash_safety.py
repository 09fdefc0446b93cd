"""The live runner killed with SIGKILL at random moments, against the Alpaca emulator.

A real ``workbench live --broker alpaca --feed alpaca`` subprocess; the harness
(:mod:`workbench.live.chaos`) publishes bars one by one, kills the runner at seeded
random moments (while it records a bar, decides, writes its plan or sends orders, or
while it is starting again) and restarts it. Afterwards the venue holds exactly the
orders of an uninterrupted run, each once; every fill it made is in the state file;
positions and cash agree. ``benchmarks/chaos.py`` runs the same with hundreds of kills.
"""

from __future__ import annotations

import pytest

from workbench.live.chaos import ChaosConfig, run_chaos

pytestmark = pytest.mark.slow
#: Where the runner can be in a bar; a kill in each of these must be harmless.
IN_BAR = {
    "before the bar was recorded",
    "bar recorded, not decided",
    "plan written, none recorded sent",
    "plan partly recorded sent",
    "decided, before the heartbeat",
}


def test_two_dozen_kills_lose_nothing_and_send_nothing_twice(tmp_path) -> None:
    report = run_chaos(tmp_path, ChaosConfig(bars=100, kills=24, seed=3))
    print("\n".join(report.lines()))
    assert report.violations == [], report.lines()
    assert report.kills == 24 and report.duplicates == 0 and report.exit_code == 0
    assert report.orders > 30 and report.fills >= report.orders - 2
    assert sum(report.phases[p] for p in IN_BAR) >= 5  # most kills hit a runner at work


def test_kills_under_429_storms_5xx_timeouts_and_dropped_streams(tmp_path) -> None:
    config = ChaosConfig(bars=60, kills=8, faults=True, seed=5, fault_rate=0.35)
    report = run_chaos(tmp_path, config)
    print("\n".join(report.lines()))
    assert report.violations == [], report.lines()
    assert report.kills == 8 and report.duplicates == 0 and report.exit_code == 0
    assert sum(report.faults.values()) >= 10 and report.orders > 15
