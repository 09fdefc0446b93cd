"""``python -m workbench.warmup`` (run by ``make install``) compiles every kernel step it names,
and every machine code the usual research calls need: none compiles on a user's first call."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.warmup import STEPS, warm_up

pytestmark = pytest.mark.slow


def test_every_step_runs_and_is_timed() -> None:
    seconds = warm_up(progress=False)
    assert list(seconds) == [what for what, _ in STEPS]
    assert all(s >= 0 for s in seconds.values())


#: Run in a fresh interpreter: the specializations (argument types and array layouts) each
#: numba kernel of the package holds after the warm-up, then those the calls below added.
#: A kernel holds a specialization once it compiled it or loaded it from numba's cache, so in
#: a fresh environment each one added here is a compile the warm-up left to the user.
PROBE = """
import json, sys
from numba.core.registry import CPUDispatcher
from workbench.warmup import warm_up

def held():
    out = {}
    for name in [m for m in sys.modules if m.startswith("workbench")]:
        for value in list(vars(sys.modules[name]).values()):
            if isinstance(value, CPUDispatcher):
                key = value.py_func.__module__ + "." + value.__name__
                out[key] = {str(s) for s in value.signatures}
    return out

warm_up(progress=False)
before = held()

from workbench.backtesting.api import backtest
from workbench.backtesting.fastpath import run_vectorized
from workbench.data.sources import load_bars, load_symbols
from workbench.research.overfitting import overfitting_report, probability_of_backtest_overfitting
from workbench.research.parity import check_parity
from workbench.research.sweep import sweep, trial_returns

bars = load_bars("sample:SPX")
universe = load_symbols("sample:SPX,NASDAQ")
grid = {"fast": [10, 20, 30], "slow": [50, 100]}
returns = trial_returns(sweep("ma_crossover", bars, grid, slippage=2.0, progress=False))
overfitting_report(returns)
probability_of_backtest_overfitting(returns, metric=lambda block: block.sum(axis=0))
trial_returns(sweep("ma_crossover", bars, {"fast": [20], "slow": [50]}, progress=False))
sweep("ma_crossover", universe, grid, progress=False)
backtest("ma_crossover", universe, {"fast": 20, "slow": 50})
run_vectorized("ma_crossover", bars, {"fast": 20, "slow": 50, "sl_stop": 0.05})
check_parity("ma_crossover", bars, {"fast": 20, "slow": 50}, engine="vectorbt")
check_parity("ma_crossover", bars, {"fast": 20, "slow": 50, "allow_short": True}, engine="vectorbt")

added = {k: sorted(v - before.get(k, set())) for k, v in held().items()}
print(json.dumps({k: v for k, v in added.items() if v}))
"""


def test_the_usual_research_calls_compile_nothing_after_the_warm_up() -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    added = json.loads(done.stdout.strip().splitlines()[-1])
    # callees compiled into a caller's machine code are listed on their own dispatchers
    # too; a caller that needed no compile adds nothing anywhere
    assert added == {}, f"compiled after the warm-up: {added}"
