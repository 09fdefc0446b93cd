"""A live session against the Alpaca-compatible emulator, stepped bar by bar from the test.

The real pieces: the emulator's HTTP and WebSocket servers on 127.0.0.1, the unmodified
alpaca-py SDK inside the Alpaca broker and bar feed, the live runner in a thread, and
its SQLite state. The test steps the emulator one bar at a time and waits until the
runner has finished that bar (its heartbeat names it), so every order reaches the
venue before the next bar opens, as it would with minute bars and a prompt runner.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
from wholeshare_strategy import WholeShareCross

from workbench.bundle import Bundle, write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.emulator import Emulator
from workbench.logs import JsonFormatter
from workbench.runspec import RunSpec

#: Credentials of the emulator, exported as Alpaca's variables during the session: the
#: dashboard and the reports must never show them.
FAKE_KEY_ID = "PKFAKEKEYID0123456789"
FAKE_SECRET = "fake-secret-9f8e7d6c5b4a3210zyxw"
#: Alpaca charges no commission on stocks, and its fill events carry none: so neither does
#: the emulator here, nor the bundle's model.
COSTS = {"cash": 100_000.0, "commission": None, "slippage": {"bps": 2.0}}
#: Wide limits: shown on the dashboard, never reached by this session.
RISK = {"max_drawdown": 0.5, "daily_loss_limit": 0.25}
PARAMS = {"fast": 5, "slow": 15, "fraction": 0.9}


def session_bars(n: int) -> pd.DataFrame:
    from workbench import load_bars

    return load_bars("sample:SPX", start="1999-01-01").iloc[:n]


def make_bundle(root: Path, *, risk: dict[str, Any] | None = RISK, restate: bool = False) -> Bundle:
    return write_bundle(
        root / "promoted", WholeShareCross(**PARAMS, restate=restate),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={},
        report="# emulator session\n",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", risk=risk or {}, **COSTS),
    )  # fmt: skip


class EmulatorSession:
    """``with EmulatorSession(root, bars=120) as s: s.step_until(80); ...; s.finish()``.

    ``restate``: the strategy states its target on every bar (see ``WholeShareCross``)."""

    def __init__(
        self,
        root: Path,
        *,
        bars: int = 120,
        slippage_bps: float = 2.0,
        risk: dict[str, Any] | None = RISK,
        restate: bool = False,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.state = root / "live.sqlite"
        self.log_file = root / "live.jsonl"
        self.bars = session_bars(bars)
        self.n = bars
        self.bundle = make_bundle(root, risk=risk, restate=restate)
        self.emulator = Emulator(
            {"SPX": self.bars}, cash=COSTS["cash"], key=FAKE_KEY_ID, secret=FAKE_SECRET,
            commission=COSTS["commission"], slippage={"bps": slippage_bps},
        )  # fmt: skip
        self.stepped = 0
        self.summary: Any = None
        self.error: BaseException | None = None
        self._env: dict[str, str | None] = {}
        self._handler: logging.Handler | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> EmulatorSession:
        self.emulator.start()
        for name, value in (("APCA_API_KEY_ID", FAKE_KEY_ID), ("APCA_API_SECRET_KEY", FAKE_SECRET)):
            self._env[name] = os.environ.get(name)
            os.environ[name] = value
        self._handler = logging.FileHandler(self.log_file)
        self._handler.setFormatter(JsonFormatter())
        logging.getLogger("workbench").addHandler(self._handler)
        logging.getLogger("workbench").setLevel(logging.INFO)
        runner, _ = build_runner(
            LiveOptions(bundle=str(self.bundle.path), broker="alpaca", feed="alpaca",
                        state=str(self.state), alpaca_url=self.emulator.base_url)
        )  # fmt: skip
        self._runner = runner
        runner.state.set_meta(log_file=str(self.log_file))  # what the runner will record itself
        self._thread = threading.Thread(target=self._run, args=(runner,), daemon=True)
        self._thread.start()
        self._wait(self._streams_ready, "the runner's streams to connect")
        return self

    def _run(self, runner: Any) -> None:
        try:
            self.summary = runner.run(max_bars=self.n)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def __exit__(self, *exc: object) -> None:
        try:
            if self._thread is not None and self._thread.is_alive():
                self.finish()
        finally:
            self.close()

    def close(self) -> None:
        if self._runner is not None:  # the runner leaves its broker's and feed's streams open
            self._runner.broker.close()
            self._runner.feed.stop()
            self._runner.state.close()
            self._runner = None
        self.emulator.stop()
        if self._handler is not None:
            logging.getLogger("workbench").removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        for name, value in self._env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._env = {}

    # -- stepping --------------------------------------------------------------------------
    def _wait(self, done: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.error is not None:
                raise RuntimeError(f"the live runner failed: {self.error!r}") from self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.005)

    def _streams_ready(self) -> bool:
        c = self.emulator.state()["connections"]
        return c["trading_ready"] >= 1 and c["data_ready"] >= 1

    def _last_bar(self) -> str | None:
        with sqlite3.connect(self.state) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'last_bar'").fetchone()
        return None if row is None else row[0]

    def step_until(self, n: int) -> None:
        """Publish bars until the runner has finished ``n`` of them."""
        while self.stepped < n:
            before = self._last_bar()
            self.emulator.step()
            self.stepped += 1
            self._wait(lambda b=before: self._last_bar() != b, f"bar {self.stepped}")

    def finish(self) -> None:
        """Step the remaining bars; the runner stops after its last one."""
        self.step_until(self.n)
        assert self._thread is not None
        self._thread.join(30)
        if self.error is not None:
            raise RuntimeError(f"the live runner failed: {self.error!r}") from self.error
        if self._thread.is_alive():
            raise TimeoutError("the live runner did not stop after its last bar")
