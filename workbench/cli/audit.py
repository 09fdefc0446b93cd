"""``workbench audit``: look for look-ahead by re-running a strategy on truncated data."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.errors import LookAheadError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="look-ahead audit: re-run on truncated data and compare the decisions",
        description=(
            "Run the strategy on all the data, then again on the data cut at every bar where "
            "it acted and at a sample of others; any decision up to a cut that changes means "
            "it used data it could not have had. Checks the vectorized form too, if any. "
            f"Exits with {LookAheadError.exit_code} when look-ahead is found."
        ),
    )
    p.add_argument("--strategy", required=True, help="built-in name (ma_crossover) or module:Class")
    p.add_argument("--data", default="sample:SPX", help="data spec (default: sample:SPX)")
    p.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="strategy parameter"
    )
    p.add_argument("--start", help="first bar (inclusive)")
    p.add_argument("--end", help="last bar (inclusive)")
    p.add_argument("--samples", type=int, default=50, help="extra cuts where it did not act (50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled cuts")
    p.add_argument("--no-vectorized", action="store_true", help="skip the vectorized form")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.errors import ConfigError
    from workbench.params import parse_assignments
    from workbench.research.audit import audit

    if args.samples < 0:
        raise ConfigError(f"--samples {args.samples} must be 0 or more")
    result = audit(
        args.strategy,
        args.data,
        parse_assignments(args.param),
        start=args.start,
        end=args.end,
        samples=args.samples,
        seed=args.seed,
        vectorized=not args.no_vectorized,
        progress=False if args.json else None,
    )
    if args.json:
        json.dump(result.to_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        print(result.summary(limit=10))
    return 0 if result.passed else LookAheadError.exit_code
