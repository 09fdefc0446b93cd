"""``workbench live``: run a promoted bundle headless, or show how a run is doing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="run a promoted strategy bundle against a broker (or show a run's status)",
        description="Run a promoted bundle bar by bar with crash-safe state, or show its status. "
        "Ctrl-C or SIGTERM finishes the bar in progress, then stops (exit code 130 after "
        "Ctrl-C, 0 after SIGTERM); a second Ctrl-C stops at once.",
    )
    p.add_argument("action", nargs="?", choices=("run", "status"), default="run")
    p.add_argument("--bundle", help="promoted/<strategy>/<version>")
    p.add_argument("--broker", choices=("sim", "alpaca"), default="sim")
    p.add_argument("--feed", default="replay:sample:SPX", help="replay:SPEC or alpaca")
    p.add_argument("--state", default="live.sqlite", help="SQLite state file (created if missing)")
    p.add_argument("--alpaca-url", help="REST base URL of Alpaca or of the emulator")
    p.add_argument("--live-trading", action="store_true", help="real money (default: paper)")
    p.add_argument("--speed", type=float, default=0.0, help="replay bars per second (0: no pause)")
    p.add_argument(
        "--cash",
        type=float,
        help="starting cash of the simulated broker, replacing the bundle's capital (logged: "
        "fills then differ from the promoted backtest)",
    )
    p.add_argument("--start", help="first bar of a replay:SPEC feed (e.g. 2007-01-01)")
    p.add_argument("--end", help="last bar of a replay:SPEC feed (inclusive)")
    p.add_argument(
        "--max-bars",
        type=int,
        help="stop after this many new bars of the bundle's timeframe (sessions, for 1Day)",
    )
    p.add_argument("--log-file", help="JSON-lines log file (rotated)")
    p.add_argument(
        "--alpaca-timeout", type=float, default=10.0, help="seconds before a request fails"
    )
    p.add_argument(
        "--retry-delay", type=float, default=0.5, help="first backoff of broker retries (seconds)"
    )
    p.add_argument(
        "--max-outage",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="wait this long at most for a venue that does not answer (outage: status "
        "degraded, no orders), then stop with exit code 5 (default 3600)",
    )
    p.add_argument(
        "--outage-backoff-cap",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="largest wait between probes of a venue in an outage (jittered; default 60)",
    )
    p.add_argument(
        "--stream-grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="market-data stream down this long while waiting for a bar: ask the venue "
        "whether it is there (default 10)",
    )
    p.add_argument(
        "--bar-settle",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="a bar made of minute bars waits this long past its period's end for its last "
        "minute, which Alpaca publishes a moment late (absent: no trade then; default 5)",
    )
    p.add_argument(
        "--pennies",
        type=float,
        metavar="DOLLARS",
        help="real pennies: trade the bundle's capital as DOLLARS of real money (every order "
        "scaled by DOLLARS / capital, at least the broker's minimum), so every path runs for "
        "pennies while strategy, risk and execution see the full-size account",
    )
    p.add_argument(
        "--reconcile-daily",
        action="store_true",
        help="after each trading day (the calendar's local day: New York's for XNYS, UTC's "
        "for 24/7), reconcile it against the backtest of its bars and log the verdict "
        "(report in reconcile/<day>/ beside the state file)",
    )
    p.add_argument(
        "--adopt-positions",
        action="store_true",
        help="take over the positions and open orders at the broker that the state file does "
        "not explain (each logged, and recorded so a restart does not ask again); without it "
        "the runner stops before any order with exit code 6 and lists them",
    )
    p.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="URL",
        help="send events (halt, kill switch, rejected order, restart, daily summary...) to "
        "this apprise URL (repeatable; also the notify: section of --config and "
        "WORKBENCH_NOTIFY). URLs are secrets: they never appear in logs",
    )
    p.add_argument("--config", metavar="FILE", help="run configuration (YAML): its notify: section")
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "status":
        from workbench.live.status import read_status, status_lines

        status = read_status(args.state)
        if args.json:
            json.dump(status, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
        else:
            print("\n".join(status_lines(status)))
        return 0
    from workbench.compose import LiveOptions, build_runner
    from workbench.errors import ConfigError, StateStoreError
    from workbench.live import notify
    from workbench.live.signals import exit_code
    from workbench.logs import configure

    if not args.bundle:
        raise ConfigError(
            "--bundle is required to run", hint="e.g. --bundle promoted/ma_crossover/1"
        )
    _check_numbers(args)
    notify_config = notify.load_config(args.config, args.notify)  # masks the URLs from here on
    configure(json_file=args.log_file)
    options = LiveOptions(
        bundle=args.bundle,
        broker=args.broker,
        feed=args.feed,
        state=args.state,
        alpaca_url=args.alpaca_url,
        speed=args.speed,
        start=args.start,
        reconcile_daily=args.reconcile_daily,
        end=args.end,
        cash=args.cash,
        live=args.live_trading,
        log_file=args.log_file,
        alpaca_timeout=args.alpaca_timeout,
        retry_delay=args.retry_delay,
        max_outage=args.max_outage,
        outage_backoff_cap=args.outage_backoff_cap,
        stream_grace=args.stream_grace,
        bar_settle=args.bar_settle,
        pennies=args.pennies,
        adopt_positions=args.adopt_positions,
    )
    try:
        runner, bundle = build_runner(options)
    except StateStoreError as exc:  # its state file locked, read-only or on a full disk
        notify.notify_failure(notify_config, Path(args.bundle).parent.name, exc)
        raise
    try:
        with notify.notifying(notify_config, runner, bundle.manifest["name"], args.state):
            summary = runner.run(max_bars=args.max_bars, handle_signals=True)
    finally:
        runner.state.close()  # and its claim: the file is free for the next runner
    print(
        f"{bundle.manifest['name']} v{bundle.manifest['version']}: {summary.bars} bars, "
        f"{summary.decisions} decisions, {summary.orders_sent} orders ({summary.stopped_by}); "
        f"state in {args.state}" + (f" (real pennies: ${args.pennies:g})" if args.pennies else "")
    )
    return exit_code(summary.signal)  # 130 after Ctrl-C, as shells report it; 0 after SIGTERM


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse the numbers a run would otherwise take silently (a negative --max-bars ran one
    bar; a negative --speed, --alpaca-timeout or --bar-settle meant something else; --cash 0
    traded the bundle's capital, saying it was replaced, and a negative one left a state
    file behind; a negative --max-outage, --stream-grace or --retry-delay was refused in the
    Python names, the state file made), before the state file is made."""
    from workbench.cli.flags import check_number

    checks = (
        ("--max-bars", args.max_bars, 1, "omit it to run until stopped"),
        ("--speed", args.speed, 0, "0 replays as fast as possible"),
        ("--alpaca-timeout", args.alpaca_timeout, None, "e.g. --alpaca-timeout 10"),
        ("--outage-backoff-cap", args.outage_backoff_cap, None, "e.g. --outage-backoff-cap 60"),
        ("--bar-settle", args.bar_settle, 0, "e.g. --bar-settle 5"),
        ("--cash", args.cash, None, "omit it to trade the bundle's capital"),
        ("--max-outage", args.max_outage, None, "e.g. --max-outage 3600"),
        ("--stream-grace", args.stream_grace, 0, "e.g. --stream-grace 10"),
        ("--retry-delay", args.retry_delay, 0, "e.g. --retry-delay 0.5"),
    )
    for flag, value, low, hint in checks:
        check_number(flag, value, low, hint)
