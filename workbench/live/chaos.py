"""Chaos harness: the live runner killed at random moments against the Alpaca emulator.

The emulator (its HTTP and WebSocket servers on 127.0.0.1, the project's simulated
broker behind them) runs in this process; the runner is a real
``workbench live --broker alpaca --feed alpaca`` subprocess talking to it through
alpaca-py. The harness publishes one bar at a time and waits until the runner has
finished it (its state file says so), as a prompt runner on minute bars would. At
seeded random moments it kills the runner with SIGKILL (after a bar was published,
while the runner records it, decides, writes its plan or sends orders; or while a
restarted runner is still starting) and starts it again. With ``faults`` the emulator
also answers with 429 storms, 5xx (some after creating the order), timeouts and slow
answers, and drops the WebSocket streams.

At the end :func:`check` holds the runner's state file against the emulator's account
and against a reference backtest of the same bars (which trades exactly like an
uninterrupted session):

- every order the emulator holds has a client order id the runner planned, once;
  each planned order reached the emulator at most once; the orders are exactly the
  reference's (no decision lost, none taken twice);
- every fill the emulator made is in the state's fills table, none twice;
- positions and cash agree: emulator account, the state's last equity snapshot, and
  the sum of the recorded fills.

Used by ``tests/integration/live/test_crash_safety.py`` (a few dozen kills) and
``benchmarks/chaos.py`` (hundreds, with figures).
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.bundle import Bundle, write_bundle
from workbench.context import Context
from workbench.indicators import SMA
from workbench.live.state import StateStore, read_or
from workbench.params import Param
from workbench.runspec import RunSpec
from workbench.strategy import Strategy

if TYPE_CHECKING:  # the runner imports this module for its strategy: keep it light
    from workbench.emulator import Emulator, Fault

KEY = "PKCHAOSKEYID000000001"
SECRET = "chaos-secret-0123456789abcdef"
CASH = 100_000.0
SLIPPAGE_BPS = 2.0
#: Alpaca charges no commission on stocks; nor does the emulator here.
COSTS = {"cash": CASH, "commission": None, "slippage": {"bps": SLIPPAGE_BPS}}
ALPACA_TIMEOUT = 0.5  # seconds: the runner's request timeout (slow faults go past it)
RETRY_DELAY = 0.02  # seconds: the first backoff of the runner's retries
EPS = 1e-6


class ChaosSwing(Strategy):
    """Holds ``fraction`` of equity in whole shares while the close is above its SMA, a
    tenth of that below it; re-sized at every bar, so it trades on most bars."""

    name = "chaos_swing"
    params = (
        Param("window", int, 5, low=2, high=1000),
        Param("fraction", float, 0.5, low=0.01, high=1.0),
    )

    def init(self, ctx: Context) -> None:
        self.sma = ctx.indicator(SMA(self.p.window))

    def on_bar(self, ctx: Context) -> None:
        if len(self.sma) < 1:
            return
        share = self.p.fraction if ctx.close[-1] > self.sma[-1] else self.p.fraction / 10
        shares = float(math.floor(share * ctx.equity / ctx.close[-1]))
        if shares != ctx.position().quantity:
            ctx.target(quantity=shares, reason="ABOVE" if share == self.p.fraction else "BELOW")


def chaos_bars(n: int) -> pd.DataFrame:
    from workbench import load_bars

    return load_bars("sample:SPX", start="1999-01-01").iloc[:n]


def write_chaos_bundle(root: Path, params: dict[str, Any] | None = None) -> Bundle:
    return write_bundle(
        root / "promoted", ChaosSwing(**(params or {})),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={},
        report="# chaos\n", run_spec=RunSpec(
            symbols=("SPX",), timeframe="1Day", session="all", cash=CASH,
            slippage=COSTS["slippage"],
        ),
    )  # fmt: skip


def chaos_emulator(bars: pd.DataFrame) -> Emulator:
    from workbench.emulator import Emulator

    return Emulator(
        {"SPX": bars}, cash=CASH, key=KEY, secret=SECRET, commission=None,
        slippage={"bps": SLIPPAGE_BPS},
    )  # fmt: skip


def fault_for(rng: random.Random) -> Fault:
    """One burst of trouble for the next bar: a 429 storm, a 5xx (maybe after the order
    was created), a timeout on an order submission, slow answers, or dropped streams."""
    from workbench.emulator import Fault

    kind = rng.choice(["storm", "ambiguous", "5xx", "timeout", "slow", "drop"])
    if kind == "storm":
        return Fault.error(429, times=rng.randint(2, 4), retry_after=0.0)
    if kind == "ambiguous":
        status = rng.choice([500, 502, 503, 504])
        return Fault.error(status, method="POST", path="/v2/orders", ambiguous=True, times=1)
    if kind == "5xx":
        return Fault.error(rng.choice([500, 503]), times=rng.randint(1, 3))
    if kind == "timeout":  # past the runner's timeout, after the order was created
        return Fault.slow(ALPACA_TIMEOUT * 2, method="POST", path="/v2/orders", times=1)
    if kind == "slow":
        return Fault.slow(ALPACA_TIMEOUT / 4, times=rng.randint(1, 4))
    return Fault.drop(rng.choice(["trading", "data", "both"]))


# -- the runner process ------------------------------------------------------------------
class RunnerProcess:
    """``workbench live`` as a subprocess, with its output appended to ``log``."""

    def __init__(self, bundle: Bundle, emu: Emulator, root: Path) -> None:
        self.state = root / "live.sqlite"
        self.log = root / "runner.out"
        self.cmd = [
            sys.executable, "-m", "workbench.cli.main", "live", "--bundle", str(bundle.path),
            "--broker", "alpaca", "--feed", "alpaca", "--alpaca-url", emu.base_url,
            "--state", str(self.state), "--log-file", str(root / "live.jsonl"),
            "--alpaca-timeout", str(ALPACA_TIMEOUT),
            "--retry-delay", str(RETRY_DELAY),
        ]  # fmt: skip
        self.env = {**os.environ, "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET,
                    "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code (a runner that does not stop is killed)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


# -- reading the state file --------------------------------------------------------------
def finished_bars(path: Path) -> int:
    """How many bars the runner has finished (recorded, decided, sent, heartbeat)."""
    times, last = read_or(path, lambda s: (s.bar_times(), s.get_meta("last_bar")), ([], None))
    if not times or last is None:
        return 0
    return len(times) if pd.Timestamp(last).value == times[-1] else len(times) - 1


def _planned(path: Path, n: int) -> bool:
    """Whether the runner planned orders on the ``n``-th bar it recorded (0-based)."""

    def read(store: StateStore) -> bool:
        times = store.bar_times()
        return n < len(times) and store.decision(times[n]) is not None

    return read_or(path, read, False)


def phase(path: Path, n: int) -> str:
    """Where the runner was in bar ``n`` (1-based) when it died."""
    times = read_or(path, StateStore.bar_times, [])
    if len(times) < n:
        return "before the bar was recorded"
    t = times[n - 1]
    decided = read_or(path, StateStore.decided_through, None)
    if decided is None or decided < t:
        return "bar recorded, not decided"
    plan = read_or(path, lambda s: s.decision(t), None)
    if plan is not None and not plan[1]:
        orders = read_or(path, StateStore.order_records, [])
        sent = [o for o in orders if o["decision_ns"] == t and o["order_id"] is not None]
        return "plan written, none recorded sent" if not sent else "plan partly recorded sent"
    if finished_bars(path) < n:
        return "decided, before the heartbeat"
    return "bar finished"


# -- the run -----------------------------------------------------------------------------
@dataclass
class ChaosReport:
    bars: int = 0
    kills: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    sent_unrecorded: int = 0  # kills between an order reaching the venue and its record
    self_exits: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    restart_seconds: list[float] = field(default_factory=list)
    #: Time the runner took for a bar without a kill, for bars with and without orders.
    bar_seconds: dict[str, list[float]] = field(
        default_factory=lambda: {"trading": [], "quiet": []}
    )
    orders: int = 0
    fills: int = 0
    duplicates: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exit_code: int | None = None

    @property
    def mean_restart(self) -> float:
        return (
            sum(self.restart_seconds) / len(self.restart_seconds) if self.restart_seconds else 0.0
        )

    def lines(self) -> list[str]:
        out = [
            f"bars {self.bars}, kills {self.kills} (SIGKILL), self-exits {self.self_exits}, "
            f"run {self.seconds:.1f} s",
            f"orders {self.orders}, fills {self.fills}, duplicates found {self.duplicates}, "
            f"violations {len(self.violations)}",
            f"restart to caught-up: mean {self.mean_restart:.2f} s, "
            f"max {max(self.restart_seconds, default=0.0):.2f} s; a bar (median): "
            f"{_median(self.bar_seconds['trading']) * 1000:.0f} ms with orders, "
            f"{_median(self.bar_seconds['quiet']) * 1000:.0f} ms without",
            f"kills sent-but-unrecorded (order at the venue, not yet in the state): "
            f"{self.sent_unrecorded}",
            "kills by phase: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.phases.items())),
        ]
        if self.faults:
            out.append("faults: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.faults.items())))
        out += [f"VIOLATION: {v}" for v in self.violations]
        return out


def _bar_of(bars: pd.DataFrame, stamp: str) -> int:
    """The 1-based number of the bar whose session stamp is ``stamp``."""
    day = pd.Timestamp(stamp[:8], tz="UTC")
    return int(bars.index.searchsorted(day)) + 1


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


@dataclass(frozen=True)
class ChaosConfig:
    bars: int = 150
    kills: int = 20
    faults: bool = False
    seed: int = 0
    #: A kill comes at a uniformly random moment within this multiple of the typical
    #: time the runner takes for a bar, after the bar is published.
    spread: float = 0.9
    #: Share of the kills aimed at bars where the reference run trades.
    trading_share: float = 0.6
    #: Share of the kills aimed at a runner that is still starting.
    startup_share: float = 0.15
    #: Chance that a bar comes with a fault (``faults`` only).
    fault_rate: float = 0.25
    #: Bound of every wait for the runner.
    timeout: float = 60.0


def run_chaos(root: Path, config: ChaosConfig) -> ChaosReport:
    """Run the session in ``root`` (created); see the module docstring."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(config.seed)
    report = ChaosReport(bars=config.bars)
    bars = chaos_bars(config.bars)
    bundle = write_chaos_bundle(root)
    t0 = time.monotonic()
    # most kills aim at bars where the strategy trades: the runner is then writing a
    # plan and sending orders for a while; the others at any bar
    trading = sorted({_bar_of(bars, stamp) for _, _, stamp in reference_orders(bars)})
    kills_at = Counter(
        rng.choice(trading) if trading and rng.random() < config.trading_share
        else rng.randint(1, config.bars)
        for _ in range(config.kills)
    )  # fmt: skip
    with chaos_emulator(bars) as emu:
        runner = RunnerProcess(bundle, emu, root)
        runner.start()
        try:
            for n in range(1, config.bars + 1):
                _wait_ready(emu, runner, n - 1, config.timeout, report)
                if config.faults and rng.random() < config.fault_rate:
                    fault = fault_for(rng)
                    report.faults[fault.kind if fault.kind != "error" else str(fault.status)] += 1
                    emu.add_fault(fault)
                    if fault.kind == "drop":  # published bars need the streams back
                        _wait_ready(emu, runner, n - 1, config.timeout, report)
                stepped = time.monotonic()
                emu.step()
                for _ in range(kills_at[n]):
                    _kill_and_restart(emu, runner, n, rng, config, report)
                _wait_finished(runner, n, config.timeout, report)
                if not kills_at[n]:
                    kind = "trading" if _planned(runner.state, n - 1) else "quiet"
                    report.bar_seconds[kind].append(time.monotonic() - stepped)
            report.exit_code = runner.terminate()
            if report.exit_code != 0:
                report.violations.append(f"the runner exited with {report.exit_code} on SIGTERM")
        finally:
            runner.kill()
        emu.clear_faults()
        report.seconds = time.monotonic() - t0
        check(runner.state, emu.state(), bars, report)
    return report


def _kill_and_restart(
    emu: Emulator,
    runner: RunnerProcess,
    n: int,
    rng: random.Random,
    config: ChaosConfig,
    report: ChaosReport,
) -> None:
    startup = rng.random() < config.startup_share
    if startup:  # kill a runner that is restarting: reading back, reconciling, catching up
        runner.kill()
        runner.start()
        time.sleep(rng.uniform(0.3, 1.5))
    else:  # somewhere in the bar: recording, deciding, writing the plan, sending
        planned = _planned(runner.state, n - 1)
        typical = _median(report.bar_seconds["trading" if planned else "quiet"][-21:]) or 0.1
        time.sleep(rng.uniform(0.0, config.spread * typical))
    before = {o["client_order_id"] for o in emu.state()["orders"]}
    runner.kill()
    report.kills += 1
    where = "while starting" if startup else phase(runner.state, n)
    report.phases[where] += 1
    orders = read_or(runner.state, StateStore.order_records, [])
    recorded = {o["client_order_id"] for o in orders if o["order_id"] is not None}
    if before - recorded:
        report.sent_unrecorded += 1
    runner.start()
    _wait_finished(runner, n, config.timeout, report)
    _wait_ready(emu, runner, n, config.timeout, report)
    report.restart_seconds.append(time.monotonic() - runner.started)


def _wait(done: Any, runner: RunnerProcess, what: str, timeout: float, report: ChaosReport) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if not runner.alive():  # it failed on its own: note it, start it again
            report.self_exits += 1
            if report.self_exits > 20:
                raise RuntimeError(f"the runner keeps exiting; see {runner.log}")
            runner.start()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout:g} s waiting for {what}; see {runner.log}"
            )
        time.sleep(0.01)


def _wait_finished(runner: RunnerProcess, n: int, timeout: float, report: ChaosReport) -> None:
    _wait(lambda: finished_bars(runner.state) >= n, runner, f"bar {n}", timeout, report)


def _wait_ready(
    emu: Emulator, runner: RunnerProcess, n: int, timeout: float, report: ChaosReport
) -> None:
    """The runner finished bar ``n`` and both its streams (and only its) are subscribed."""

    async def connections() -> dict[str, Any]:
        return emu.core.hub.describe()

    def ready() -> bool:
        if finished_bars(runner.state) < n:
            return False
        c = emu.call(connections)
        return c["trading"] == c["trading_ready"] == 1 and c["data"] == c["data_ready"] == 1

    _wait(ready, runner, "the runner's streams", timeout, report)


# -- the invariants ----------------------------------------------------------------------
def check(state: Path, venue: dict[str, Any], bars: pd.DataFrame, report: ChaosReport) -> None:
    """Hold the state file against the emulator's ``venue`` dump and the reference run;
    every broken invariant is appended to ``report.violations``."""
    bad = report.violations
    orders = venue["orders"]
    cids = Counter(o["client_order_id"] for o in orders)
    report.duplicates = sum(c - 1 for c in cids.values() if c > 1)
    report.orders = len(orders)
    if report.duplicates:
        bad.append(f"duplicated client order ids at the venue: {report.duplicates}")
    with StateStore.reader(state) as store:
        rows = {o["client_order_id"]: o for o in store.order_records()}
        plans = store.plans()
        fills = store.fill_records()
        last = store.equity_points(last=True)
    planned = Counter(
        s["client_order_id"] for p in plans for s in p.intents if s["kind"] == "submit"
    )
    if any(c > 1 for c in planned.values()):
        bad.append("a client order id planned twice")
    for o in orders:
        cid = o["client_order_id"]
        row = rows.get(cid)
        if cid not in planned:
            bad.append(f"order {cid} at the venue was never planned")
        if row is None or row["order_id"] != o["id"]:
            bad.append(f"order {cid} at the venue is not recorded in the state")
        elif abs(float(row["filled_quantity"]) - float(o["filled_qty"])) > EPS:
            state_filled = row["filled_quantity"]
            bad.append(f"order {cid}: state filled {state_filled}, venue {o['filled_qty']}")
    # the reference: an uninterrupted run trades exactly like a backtest of the bars
    expected = reference_orders(bars)
    got = [(o["side"], float(o["qty"]), o["client_order_id"].rsplit("-", 2)[-2]) for o in orders]
    if got != expected:
        missing = [e for e in expected if e not in got]
        extra = [g for g in got if g not in expected]
        bad.append(f"orders differ from the reference: missing {missing[:5]}, extra {extra[:5]}")
    # fills: every venue fill recorded once, at the venue's average price
    report.fills = len(fills)
    per_order: dict[str, list[float]] = {}
    for f in fills:
        oid, qty, price = f["order_id"], f["quantity"], f["price"]
        q, notional = per_order.get(oid, [0.0, 0.0])
        per_order[oid] = [q + qty, notional + qty * price]
    for o in orders:
        filled = float(o["filled_qty"])
        q, notional = per_order.pop(o["id"], [0.0, 0.0])
        if abs(q - filled) > EPS:
            bad.append(f"order {o['client_order_id']}: venue filled {filled}, state fills {q}")
        elif filled > 0 and abs(notional / q - float(o["filled_avg_price"])) > EPS:
            bad.append(f"order {o['client_order_id']}: fill prices differ from the venue's")
    if per_order:
        bad.append(f"fills of orders the venue does not have: {sorted(per_order)[:5]}")
    # positions and cash: venue account, last snapshot, sum of fills
    held = {p["symbol"]: float(p["qty"]) for p in venue["positions"]}
    by_fills: dict[str, float] = {}
    cash = CASH
    for f in fills:
        qty, price, symbol = f["quantity"], f["price"], f["symbol"]
        sign = 1.0 if f["side"] == "buy" else -1.0
        by_fills[symbol] = by_fills.get(symbol, 0.0) + sign * qty
        cash -= sign * qty * price
    by_fills = {s: q for s, q in by_fills.items() if abs(q) > EPS}
    if by_fills.keys() != held.keys() or any(abs(by_fills[s] - held[s]) > EPS for s in held):
        bad.append(f"positions: venue {held}, state fills {by_fills}")
    venue_cash = float(venue["account"]["cash"])
    if abs(cash - venue_cash) > 1e-6 * CASH:
        bad.append(f"cash: venue {venue_cash}, from the state's fills {cash}")
    if not last:
        bad.append("no equity snapshot in the state")
    else:
        snap_cash, snap_equity = last[0].cash, last[0].equity
        snap_held = {s: q for s, q in last[0].positions.items() if abs(q) > EPS}
        if abs(snap_cash - venue_cash) > 1e-6 * CASH or snap_held != held:
            bad.append(f"last snapshot: cash {snap_cash} {snap_held}, venue {venue_cash} {held}")
        if abs(snap_equity - float(venue["account"]["equity"])) > 1e-6 * CASH:
            bad.append(f"last snapshot equity {snap_equity}, venue {venue['account']['equity']}")


def reference_orders(bars: pd.DataFrame) -> list[tuple[str, float, str]]:
    """(side, quantity, decision stamp) of each order of an uninterrupted run (the live
    feed labels a session's bar as the backtest does: 00:00 UTC of its date)."""
    from workbench import backtest

    result = backtest(ChaosSwing, bars, cash=CASH, slippage=SLIPPAGE_BPS)
    return [
        (str(o.side), float(o.quantity), pd.Timestamp(o.created_at).strftime("%Y%m%dT%H%M%S"))
        for o in result.orders.itertuples(index=False)
    ]
