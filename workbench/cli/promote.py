"""``workbench promote``: run the promotion gates; write a versioned bundle when they pass."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        help="check a strategy against the promotion gates and write a bundle",
        description="Run the gates (out-of-sample Sharpe, deflated Sharpe, PBO, walk-forward "
        "efficiency, look-ahead audit, parity, minimum trades); on success write an immutable "
        "bundle. Exit 0: promoted; exit 10: gates failed.",
    )
    p.add_argument("--strategy", required=True)
    p.add_argument("--data", default="sample:SPX")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--walkforward", metavar="RUN_DIR", help="a workbench walkforward output folder")
    p.add_argument("--risk", help="risk config (YAML or TOML) to ship with the bundle")
    p.add_argument("--gate", action="append", default=[], metavar="NAME=THRESHOLD",
                   help="override a threshold, e.g. --gate min_trades=10")  # fmt: skip
    p.add_argument("--cash", type=float, default=100_000.0)
    p.add_argument("--commission", default=None)
    p.add_argument("--slippage", default=None)
    p.add_argument(
        "--volume-limit", type=float, help="largest share of a bar's volume one order may take"
    )
    p.add_argument("--lot-size", type=float, help="round quantities down to this lot (1: whole)")
    p.add_argument(
        "--margin", type=float, default=1.0, help="buying power multiple (default 1: no leverage)"
    )
    p.add_argument(
        "--conflict",
        choices=("cancel_replace", "wait"),
        default="cancel_replace",
        help="a working order when the target moves: cancel and replace it (default), or wait",
    )
    p.add_argument(
        "--no-protect-partial-fills",
        dest="protect_partial_fills",
        action="store_false",
        help="no protective exit for what a bracket/oto entry filled before it ended "
        "(default: one, at its legs' prices)",
    )
    p.add_argument(
        "--timeframe",
        help="the bar timeframe researched and traded (1Min, 5Min, 15Min, 1Hour, 1Day): the data "
        "is resampled on the exchange's sessions first; recorded in the bundle's run spec "
        "(default: the data's own bar length, every bar counting)",
    )
    p.add_argument(
        "--session",
        choices=("regular", "all"),
        default="regular",
        help="with --timeframe: only regular-session bars count (default), or all",
    )
    p.add_argument("--calendar", default="XNYS", help="exchange calendar (default XNYS)")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--force", action="store_true", help="promote even if gates fail")
    p.add_argument("--reason", help="why, when forcing (recorded in the manifest)")
    p.add_argument("--out", default="promoted")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.cli.flags import check_venue
    from workbench.errors import ConfigError
    from workbench.outdir import check_output_folder
    from workbench.params import parse_assignments
    from workbench.promote import EXIT_GATES_FAILED, promote

    check_venue(args)  # in the flags' words, before the gates run
    check_output_folder(args.out)  # before the gates run, not after them
    thresholds = {}
    for name, value in parse_assignments(args.gate, "--gate", "min_trades=10").items():
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise ConfigError(f"--gate {name}={value!r}: the threshold must be a number") from None
    result = promote(
        args.strategy, args.data, parse_assignments(args.param), out=args.out,
        walkforward=args.walkforward, risk=args.risk, thresholds=thresholds, cash=args.cash,
        commission=args.commission, slippage=args.slippage, start=args.start, end=args.end,
        force=args.force, reason=args.reason, timeframe=args.timeframe, session=args.session,
        calendar=args.calendar, volume_limit=args.volume_limit, lot_size=args.lot_size,
        margin=args.margin, conflict=args.conflict,
        protect_partial_fills=args.protect_partial_fills,
    )  # fmt: skip
    print(result.report())
    if result.bundle is not None:
        forced = " (forced)" if not result.passed else ""
        spec = result.bundle.manifest["run_spec"]
        print(
            f"bundle{forced}: {result.bundle.path} ({spec['timeframe']} bars, "
            f"{spec['session']} session)"
        )
        return 0
    return EXIT_GATES_FAILED
