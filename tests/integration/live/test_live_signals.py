"""Ctrl-C on a real ``workbench live`` process: a graceful stop, never a failure.

The runner is caught mid-bar by a strategy that holds its 10th bar until the test lets
it go, so each signal lands at a known point (no sleeps, no timing): a first Ctrl-C
finishes that bar (its order sent and recorded) and stops; a second one interrupts at
once. A library caller's ``KeyboardInterrupt`` (no handlers: Python's default) is no
failure either, and the next start finishes the bar it interrupted.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench import load_bars
from workbench.bundle import write_bundle
from workbench.context import Context
from workbench.live.health import judge
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Strategy, make_strategy

HOLD_AT = 10
WITHIN = 90.0  # seconds a step may take at most on a busy machine (readiness, not timing)

SOURCE = f'''
"""Holds its {HOLD_AT}th bar (warmed bars count) until $HOLD_DIR/release exists, once."""
import os
import time
from collections.abc import Callable
from pathlib import Path

from workbench.strategy import Strategy


class HoldOnBar(Strategy):
    name = "hold_on_bar"

    def init(self, ctx):
        self.seen = 0

    def on_bar(self, ctx):
        self.seen += 1
        if self.seen != {HOLD_AT}:
            return
        here = Path(os.environ["HOLD_DIR"])
        if not (here / "held").exists():
            (here / "held").touch()
            deadline = time.monotonic() + {WITHIN}
            while not (here / "release").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("never released")
                time.sleep(0.01)
        ctx.buy(1)
'''


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A ``workbench live`` command line on a bundle of HoldOnBar, and its environment."""
    (tmp_path / "hold_on_bar_strategy.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hold_on_bar_strategy", None)
    bundle = write_bundle(
        tmp_path / "promoted", make_strategy("hold_on_bar_strategy:HoldOnBar"),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={}, report="",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all"),
    )  # fmt: skip
    sys.modules.pop("hold_on_bar_strategy", None)
    paths = [str(tmp_path), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "HOLD_DIR": str(tmp_path),
           "MPLBACKEND": "Agg"}  # fmt: skip
    cmd = [sys.executable, "-m", "workbench.cli.main", "live", "--bundle", str(bundle.path),
           "--feed", "replay:sample:SPX", "--end", "2001-12-31",
           "--state", str(tmp_path / "live.sqlite")]  # fmt: skip
    return cmd, env


def held(proc: subprocess.Popen[bytes], hold_dir: Path) -> None:
    """Wait until the runner is held inside its bar."""
    deadline = time.monotonic() + WITHIN
    while not (hold_dir / "held").exists():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the runner never reached the held bar"
        time.sleep(0.02)


def read_until(proc: subprocess.Popen[bytes], text: str) -> str:
    """stderr until ``text`` appears in it (the runner says it heard the signal)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + WITHIN
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and selector.select(left), f"no {text!r} in: {seen.decode()}"
            chunk = os.read(proc.stderr.fileno(), 65536)
            assert chunk, f"the runner ended before {text!r}: {seen.decode()}"
            seen += chunk
    return seen.decode()


def ctrl_c(
    cmd: list[str],
    env: dict[str, str],
    hold_dir: Path,
    then: Callable[[subprocess.Popen[bytes]], object],
) -> tuple[int | None, str, str]:
    """Run ``cmd``, Ctrl-C it once held inside its bar, wait until it says it heard, then
    ``then(proc)``: its exit code, stdout and stderr."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        held(proc, hold_dir)
        proc.send_signal(signal.SIGINT)
        err = read_until(proc, "stop requested by Ctrl-C (SIGINT)")
        then(proc)
        out, rest = proc.communicate(timeout=WITHIN)
    finally:
        proc.kill()
    return proc.returncode, out.decode(), err + rest.decode()


def status(cmd: list[str]) -> dict:
    state = cmd[cmd.index("--state") + 1]
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli.main", "live", "status", "--state", state, "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def test_ctrl_c_finishes_the_bar_and_stops_with_130(run, tmp_path) -> None:
    cmd, env = run
    code, out, err = ctrl_c(cmd, env, tmp_path, lambda proc: (tmp_path / "release").touch())
    assert code == 130, err
    assert "Ctrl-C again interrupts at once" in err
    assert "Traceback" not in err and "interrupted" not in err
    assert "stopped: stop requested by Ctrl-C (SIGINT)" in err
    assert "(stop requested by Ctrl-C (SIGINT))" in out
    now = status(cmd)
    assert now["status"] == "stopped" and now["written_status"] == "stopped"
    assert now["stopped_by"] == "stop requested by Ctrl-C (SIGINT)"
    with StateStore(tmp_path / "live.sqlite") as store:
        times = store.bar_times()
        assert len(times) == HOLD_AT  # the held bar was the last
        assert store.decision(times[-1])[1] and store.pending_decisions() == []  # finished
        orders = store.order_records()
    assert [(o["decision_ns"], o["side"], o["quantity"]) for o in orders] == [
        (times[-1], "buy", 1.0)
    ]


def test_a_second_ctrl_c_interrupts_at_once_and_keeps_what_was_written(run, tmp_path) -> None:
    cmd, env = run
    code, _, err = ctrl_c(cmd, env, tmp_path, lambda proc: proc.send_signal(signal.SIGINT))
    assert code == 130, err  # the bar still held: never released
    assert "Traceback" not in err and "failed" not in err
    assert "stopped: interrupted" in err
    now = status(cmd)
    assert now["status"] == "stopped" and now["stopped_by"] == "interrupted", now
    assert now["error"] is None
    with StateStore(tmp_path / "live.sqlite") as store:
        times = store.bar_times()
        assert len(times) == HOLD_AT  # recorded, never decided
        assert store.decided_through() == times[-2]  # bars before it decided and done
        assert store.pending_decisions() == []
        assert store.decision(times[-1]) is None and store.order_records() == []


class InterruptedOnce(Strategy):
    """Buys 1 on its 10th bar (warmed bars count); ``interrupt``: Ctrl-C lands there first."""

    name = "interrupted_once"
    interrupt = False

    def init(self, ctx: Context) -> None:
        self.seen = 0

    def on_bar(self, ctx: Context) -> None:
        self.seen += 1
        if self.seen == HOLD_AT:
            if self.interrupt:
                raise KeyboardInterrupt
            ctx.buy(1)


def test_a_library_callers_interrupt_is_no_failure_and_the_next_start_finishes_the_bar(
    tmp_path,
) -> None:
    bars = load_bars("sample:SPX", end="1999-12-31")
    broker = SimulatedBroker(100_000)
    state = StateStore(tmp_path / "live.sqlite")
    first = InterruptedOnce()
    first.interrupt = True
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or the test runner's
    with pytest.raises(KeyboardInterrupt):
        LiveRunner(first, ["SPX"], broker, feed, state).run()
    assert signal.getsignal(signal.SIGINT) is before  # left alone
    meta = state.meta()
    assert (meta["status"], meta["stopped_by"], meta.get("error")) == ("stopped", "interrupted", "")
    assert judge(meta).state == "stopped"
    held = bars.index[HOLD_AT - 1].value
    assert state.last_bar_ns() == held and state.decision(held) is None
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars.iloc[HOLD_AT:]}), broker)
    summary = LiveRunner(InterruptedOnce(), ["SPX"], broker, feed, state).run(max_bars=1)
    assert (summary.stopped_by, summary.signal) == ("max bars", None)
    orders = state.order_records()
    assert [(o["decision_ns"], o["side"], o["quantity"], o["status"]) for o in orders] == [
        (held, "buy", 1.0, "filled")
    ]
    assert [o.client_order_id for o in broker.orders] == [orders[0]["client_order_id"]]
