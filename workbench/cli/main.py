"""Entry point of the ``workbench`` command: builds the parser, maps errors to exit codes.

Errors from the package (:mod:`workbench.errors`) become one line on stderr and the
group's exit code; they never print a traceback. Subcommand modules import their
heavy dependencies inside their handlers, so ``workbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from workbench.errors import WorkbenchError

#: Modules that each define ``register(subparsers)``; order is the order in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "workbench.cli.data",
    "workbench.cli.backtest",
    "workbench.cli.sweep",
    "workbench.cli.risk",
    "workbench.cli.promote",
    "workbench.cli.live",
    "workbench.cli.dashboard",
    "workbench.cli.reconcile",
    "workbench.cli.emulator",
    "workbench.cli.walkforward",
    "workbench.cli.audit",
    "workbench.cli.batch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Research-to-production workbench for systematic traders.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
