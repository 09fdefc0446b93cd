"""Chaos: the live runner killed with SIGKILL hundreds of times against the Alpaca emulator.

The harness is :mod:`workbench.live.chaos` (the crash-safety tests use it too): a real
``workbench live --broker alpaca --feed alpaca`` subprocess, bars published one by one,
kills at seeded random moments (mid-bar: recording, deciding, writing the plan, sending
orders; or while restarting), a restart after each. ``--faults on`` adds 429 storms,
5xx (some after the order was created), timeouts, slow answers and dropped streams.

The kills are spread over sessions of ``--bars`` bars (a fresh emulator and state file
each), about one kill per ``--bars-per-kill`` bars. Prints the figures (kills, orders,
fills, duplicates found, mean restart time, where the kills landed) and exits 1 on any
violation of the invariants (see :func:`workbench.live.chaos.check`).

    python benchmarks/chaos.py [--kills 200] [--faults on|off] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from workbench.live.chaos import ChaosConfig, ChaosReport, run_chaos


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=200, help="SIGKILLs in all (default 200)")
    p.add_argument("--faults", choices=("on", "off"), default="off", help="emulator faults")
    p.add_argument("--bars", type=int, default=150, help="bars per session (default 150)")
    p.add_argument("--bars-per-kill", type=float, default=4.0, help="bars per kill (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="keep the sessions' files here (default: a temporary folder)")
    args = p.parse_args(argv)
    per_session = max(1, round(args.bars / args.bars_per_kill))
    sessions = max(1, -(-args.kills // per_session))
    total = ChaosReport()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = Path(args.out or tmp)
        left = args.kills
        for k in range(sessions):
            config = ChaosConfig(
                bars=args.bars, kills=min(per_session, left), faults=args.faults == "on",
                seed=args.seed * 1000 + k,
            )  # fmt: skip
            left -= config.kills
            try:
                report = run_chaos(root / f"session-{k}", config)
            except (TimeoutError, RuntimeError) as exc:
                report = ChaosReport(bars=args.bars, violations=[f"session {k}: {exc}"])
            _add(total, report)
            print(
                f"session {k + 1}/{sessions}: {report.kills} kills, {report.orders} orders, "
                f"{len(report.violations)} violations, {report.seconds:.0f} s",
                flush=True,
            )
            for v in report.violations:
                print(f"  VIOLATION: {v}", flush=True)
    total.seconds = time.monotonic() - started
    print(f"\nchaos, faults {args.faults}, {sessions} sessions of {args.bars} bars")
    print("\n".join(total.lines()))
    return 1 if total.violations else 0


def _add(total: ChaosReport, r: ChaosReport) -> None:
    total.bars += r.bars
    total.kills += r.kills
    total.phases.update(r.phases)
    total.faults.update(r.faults)
    total.sent_unrecorded += r.sent_unrecorded
    total.self_exits += r.self_exits
    total.restart_seconds += r.restart_seconds
    for kind, seconds in r.bar_seconds.items():
        total.bar_seconds[kind] += seconds
    total.orders += r.orders
    total.fills += r.fills
    total.duplicates += r.duplicates
    total.violations += r.violations


if __name__ == "__main__":
    sys.exit(main())
