"""Numbers on the command line checked in the command line's words (``--jobs``, not the
Python name ``workers``), before a command makes a file or does any work."""

from __future__ import annotations

import argparse
import math

from workbench.errors import ConfigError, RangeRefusal, WorkbenchError


def check_number(
    flag: str, value: float | None, low: float | None, hint: str, *, high: float | None = None
) -> None:
    """Refuse ``value`` of ``flag`` below ``low`` (None: it must be positive), above ``high``,
    or not finite; None (the flag not given) passes."""
    if value is None:
        return
    inside = math.isfinite(value) and (high is None or value <= high)
    if low is None:
        if not (inside and value > 0):
            what = "a positive number" if high is None else f"in (0, {high:g}]"
            raise ConfigError(f"{flag} must be {what}, got {value:g}", hint=hint)
    elif not (inside and value >= low):
        what = f"at least {low:g}" if high is None else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"{flag} must be {what}, got {value:g}", hint=hint)


def check_jobs(jobs: int) -> None:
    """``--jobs``: processes run at once, one at least (``workers`` in the Python API)."""
    check_number("--jobs", jobs, 1, "e.g. --jobs 2 runs two at once; 1 runs one at a time")


#: The venue's flags a backtest-like command takes (backtest, sweep, promote, walkforward):
#: flag, attribute, lowest (None: above zero), highest, example.
VENUE_NUMBERS = (
    ("--cash", "cash", None, None, "e.g. --cash 100000"),
    ("--margin", "margin", None, None, "e.g. --margin 2 doubles the buying power; 1 is none"),
    ("--lot-size", "lot_size", None, None, "e.g. --lot-size 1 trades whole shares"),
    (
        "--volume-limit",
        "volume_limit",
        None,
        1.0,
        "e.g. --volume-limit 0.1: an order takes at most 10% of a bar's volume",
    ),
)

#: ``--commission`` and ``--slippage``: an example of each, as the command line writes it.
COST_EXAMPLES = {
    "commission": "e.g. --commission 0.001 (0.1% of the notional) or per_share=0.005,minimum=1",
    "slippage": "e.g. --slippage 5 (5 bps) or range=0.1 (10% of the bar's range)",
}


def check_venue(args: argparse.Namespace, numbers: tuple = VENUE_NUMBERS) -> None:
    """Refuse the venue's numbers and costs a command was given in the flags' words (the run
    refused them in the Python names: ``margin must be a positive number``, or, in a sweep,
    ran on a negative cash), before any data is read or file made. ``numbers``: rows as
    :data:`VENUE_NUMBERS` (the emulator's cash may be 0)."""
    from workbench.sim.costs import Commission, Slippage

    for flag, name, low, high, hint in numbers:
        check_number(flag, getattr(args, name, None), low, hint, high=high)
    for name, parse in (("commission", Commission.parse), ("slippage", Slippage.parse)):
        try:
            parse(getattr(args, name, None))
        except ConfigError as exc:  # its words start with the Python name ("commission ...")
            words = exc.message.removeprefix(name)
            example = COST_EXAMPLES[name]
            own = exc.hint and "grammar" not in exc.hint  # the grammar is the Python docstring's
            hint = f"{exc.hint}; {example}" if own else example
            raise ConfigError(f"--{name}{words}", hint=hint) from None


def in_flags(exc: WorkbenchError, args: argparse.Namespace) -> WorkbenchError:
    """A refusal of the range ``--start``/``--end`` gave, said again in the flags' words
    (``--start 2030-01-01``; the library names its arguments, ``start='2030-01-01'``), for
    every command that takes them; any other error, or a range the command made itself (a
    fold's window), as it is."""
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if isinstance(exc, RangeRefusal) and exc.given_as(start, end):
        return exc.worded(flags=True)
    return exc
