"""``workbench reconcile``: diff a live run against a backtest of the same bars, trade by trade;
with ``--broker``, the broker's positions and open orders against the run's state file."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconcile",
        help="compare a live run with a backtest of the bars it saw; non-zero on differences",
        description="Replay the bars a live run saw through the backtest with its bundle's "
        "parameters, costs and risk config, then diff round trip by round trip: missing and "
        "extra trades, decision times, fill times (filled a bar later or earlier), fill "
        "prices (realised vs modelled slippage), fees, sizes, partial fills, dropped fills and "
        "risk events. "
        "Writes summary.json, trades.csv, differences.csv, "
        "plots and report.html; exits 1 when differences exceed the tolerances. With --broker, "
        "compare instead the broker's positions and open orders with what the state file "
        "explains (the check the live runner makes at start and each day); exits 6 on any "
        "difference.",
    )
    p.add_argument("--state", default="live.sqlite", help="the run's SQLite state file")
    p.add_argument("--out", help="output folder (default: reconcile/<UTC time> beside the state)")
    p.add_argument("--bundle", help="override the bundle recorded in the state")
    p.add_argument("--until", help="only up to this UTC time (e.g. 2024-05-31T23:59:59)")
    p.add_argument("--price-bps", type=float, default=1.0, help="fill price tolerance (bps)")
    p.add_argument("--fee-abs", type=float, default=0.01, help="fee tolerance per trade (money)")
    p.add_argument("--size-rel", type=float, default=0.01, help="size tolerance (relative)")
    p.add_argument("--decision-bars", type=int, default=0, help="decision-time tolerance (bars)")
    p.add_argument("--window-bars", type=int, default=5, help="max bars apart to pair trades")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--broker",
        choices=("alpaca",),
        help="compare the broker's positions and open orders with the state file instead "
        "(keys from APCA_API_KEY_ID / APCA_API_SECRET_KEY)",
    )
    p.add_argument("--alpaca-url", help="with --broker: REST base URL of Alpaca or the emulator")
    p.add_argument("--live-trading", action="store_true", help="with --broker: the live account")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.broker:
        return run_holdings(args)
    import json
    import sys
    from pathlib import Path

    import pandas as pd

    from workbench.data.spec import to_utc
    from workbench.live.reconcile import Tolerances, reconcile
    from workbench.outdir import check_output_folder

    to_utc(args.until, name="--until")  # a date or time, else one line with the fix
    if args.out:
        check_output_folder(args.out)  # before the backtest, not after it
    tolerances = Tolerances(
        price_bps=args.price_bps,
        fee_abs=args.fee_abs,
        size_rel=args.size_rel,
        decision_bars=args.decision_bars,
        window_bars=args.window_bars,
    )
    rec = reconcile(args.state, tolerances=tolerances, bundle=args.bundle, until=args.until)
    if args.out:
        out = Path(args.out)
    else:
        stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
        out = Path(args.state).resolve().parent / "reconcile" / stamp
    page = rec.write(out)
    s = rec.summary
    if args.json:
        json.dump(s, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        t = s["trades"]
        print(f"{s['verdict']}: {s['unexplained']} unexplained, {s['explained']} explained "
              f"difference(s); trades live {t['live']}, backtest {t['backtest']}, "
              f"matched {t['matched']}")  # fmt: skip
        for name, count in s["counts"].items():
            if count:
                print(f"  {name:<14} {count}")
        for note in s["notes"]:
            print(f"  note: {note}")
        print(f"report: {page}")
    return rec.exit_code


def run_holdings(args: argparse.Namespace) -> int:
    """The runner's start-up comparison, printed: one line per difference, exit 6 if any."""
    import json
    import sys

    from workbench.brokers.alpaca import AlpacaBroker
    from workbench.errors import ReconciliationError
    from workbench.live.holdings import FIX, compare_holdings
    from workbench.live.pennies import apply_pennies
    from workbench.live.state import StateStore

    state = StateStore.reader(args.state)  # read-only: refuses a missing file
    try:
        broker = AlpacaBroker.from_env(live=args.live_trading, url=args.alpaca_url)
        pennies = state.get_meta("pennies")  # a pennies run compares its virtual sizes
        capital = float(state.get_meta("pennies_capital") or 0.0)
        venue = apply_pennies(broker, state, None if pennies is None else float(pennies), capital)
        check = compare_holdings(state, venue)
    finally:
        state.close()
    if args.json:
        json.dump(check.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif check.clean:
        print(f"match: {check.positions} position(s) and {check.open_orders} open order(s) at "
              f"the broker, all explained by {args.state}")  # fmt: skip
    else:
        print(check.message(args.state))
        print(f"fix: {FIX}")
    return 0 if check.clean else ReconciliationError.exit_code
