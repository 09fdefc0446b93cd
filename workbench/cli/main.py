"""Entry point of the ``workbench`` command: builds the parser, maps errors to exit codes.

Errors from the package (:mod:`workbench.errors`) become one line on stderr and the
group's exit code; they never print a traceback. Subcommand modules import their
heavy dependencies inside their handlers, so ``workbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from workbench.errors import ConfigError, WorkbenchError

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


LOG_LEVELS = ("debug", "info", "warning", "error")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("workbench")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown (not installed)"


def _add_log_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        type=str.lower,
        default=default,
        help="how much workbench logs (default info; other libraries log from warning)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const="debug",
        dest="log_level",
        default=default,
        help="the same as --log-level debug",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Research-to-production workbench for systematic traders.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {_version()}")
    _add_log_options(parser, "info")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _add_to_commands(sub)
    return parser


def _add_to_commands(sub: argparse._SubParsersAction) -> None:
    """Every command and subcommand takes the log options, before or after its name."""
    for command in sub.choices.values():
        _add_log_options(command, argparse.SUPPRESS)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_to_commands(action)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from workbench.logs import configure, set_default_level

    set_default_level(args.log_level)
    configure()  # stderr for every command; `live` adds its JSON file
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a reader gone (`| head`) shows here, not as a traceback at exit
        return code
    except WorkbenchError as exc:
        from workbench.cli.flags import in_flags

        print(f"error: {in_flags(exc, args)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout's reader stopped reading (`workbench live status | head`): the rest of the
        # output has nowhere to go; what the command saved is saved. 141 = 128 + SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise
        print(f"error: {_disk_error(exc, getattr(args, 'out', None))}", file=sys.stderr)
        return ConfigError.exit_code


#: Errors only writing meets, and only the machine fixes: a full disk (or quota), a file
#: grown past the file system's limit, a read-only file system. Writing outputs (CSVs,
#: reports, notebooks, a bundle) met them as tracebacks, often without a file's name.
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def _disk_error(exc: OSError, out: object) -> str:
    """One line: what could not be written, why, and the fix (the state file has its own:
    :class:`~workbench.errors.StateStoreError`)."""
    what = exc.filename or (f"into --out {out}" if out else "a file")
    where = "give --out a folder on another disk, or " if out else ""
    return (
        f"cannot write {what}: {exc.strerror or exc} ({where}free space on that disk or make "
        "it writable, then run the command again)"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
