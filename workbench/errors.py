"""One exception hierarchy, grouped by what the caller must do.

::

    WorkbenchError                 base; ``str(e)`` is one line: the problem and the fix
                                   (a reconciliation lists one difference a line)
    ├── ConfigError                fix the command line, the parameters or the config file
    │   ├── ParameterError         unknown, out of range, or breaking a constraint
    │   └── BadRangeError          a date range's bound is not a date, or start is after end
    ├── DataError                  the data is malformed or cannot be read; fix the file or the spec
    │   ├── DataSourceError        the source spec is unknown or the source cannot be reached
    │   └── EmptyRangeError        the date range asked for holds no bar
    ├── StrategyError              a bug in strategy code
    │   └── LookAheadError         the strategy asked for data after the current bar
    ├── StateStoreError            the machine: the state file cannot be written (disk full,
    │                              read-only, vanished, locked by another process); fix it
    ├── BrokerError                the broker refused or failed
    │   ├── TransientBrokerError   temporary (429, 5xx, timeout, disconnect): safe to retry
    │   ├── VenueOutageTooLong     the venue stayed down past the runner's --max-outage
    │   └── OrderRejected          the broker rejected the order: do not retry
    └── ReconciliationError        the broker holds positions or orders the state does not
                                   explain: a person adopts them (--adopt-positions) or
                                   closes them; restarting alone cannot fix it

Library code raises these; only the edges catch them: the CLI maps each group to
an exit code and a one-line message (never a traceback), the live runner maps
them to a retry or a safe stop.
"""

from __future__ import annotations

from typing import Any


class WorkbenchError(Exception):
    """Base class. ``exit_code`` is what the CLI returns for this group."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(WorkbenchError):
    """Wrong command-line arguments, parameters or config file."""

    exit_code = 2


class ParameterError(ConfigError):
    """A strategy parameter is unknown, of the wrong type, out of range, or breaks a constraint."""


class DataError(WorkbenchError):
    """Malformed or unreadable data."""

    exit_code = 3


class DataSourceError(DataError):
    """Unknown source spec, or a source that cannot be read."""


class RangeRefusal(WorkbenchError):
    """A refusal of a date range that keeps its facts (``facts``, e.g.
    :class:`~workbench.data.spec.NoBars`), so that a caller says it again in its own words:
    the library names the arguments (``start='2030-01-01'``), the command line its flags
    (``--start 2030-01-01``), from the same facts (``facts.words(flags)``)."""

    def __init__(self, message: str, *, hint: str | None = None, facts: Any = None) -> None:
        self.facts = facts
        super().__init__(message, hint=hint)

    @classmethod
    def of(cls, facts: Any, *, flags: bool = False) -> RangeRefusal:
        """The refusal of ``facts``, naming the bounds as flags or as the Python arguments."""
        message, hint = facts.words(flags)
        return cls(message, hint=hint, facts=facts)

    def worded(self, *, flags: bool) -> WorkbenchError:
        """The same refusal in other words (itself when re-raised without its facts)."""
        return self if self.facts is None else self.of(self.facts, flags=flags)

    def given_as(self, start: Any, end: Any) -> bool:
        """Whether the refused range is exactly ``start``/``end`` as given (strings or
        None): the command line's flags, not a range a library call made of them."""
        return self.facts is not None and self.facts.given.given_as(start, end)


class BadRangeError(RangeRefusal, ConfigError):
    """A date range with a bound that is not a date or time, or whose start is after its end."""


class EmptyRangeError(RangeRefusal, DataError):
    """A date range that holds no bar of the data (the data's own span is the fix)."""


class StrategyError(WorkbenchError):
    """A bug in strategy code (raised or detected while running it)."""

    exit_code = 4


class LookAheadError(StrategyError):
    """The strategy asked for data after the current bar."""


class StateStoreError(WorkbenchError):
    """The run's state file cannot be written: the disk is full, the file or its folder is
    read-only, the file vanished under the runner, or another process holds it.

    Nothing already written is lost (each step is its own transaction): once a person
    has fixed the cause, the same command resumes. Under systemd it does not restart
    (``RestartPreventExitStatus``): each restart would fail the same way.
    """

    exit_code = 7


class BrokerError(WorkbenchError):
    """The broker refused or failed."""

    exit_code = 5

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None) -> None:
        self.code = code
        super().__init__(message, hint=hint)


class TransientBrokerError(BrokerError):
    """Temporary broker trouble (rate limit, 5xx, timeout, disconnect): safe to retry.

    ``ambiguous`` says the request may have reached the broker (a timeout, a 5xx or a
    dropped connection after sending): before resubmitting an order, look it up by its
    client order id. ``retry_after`` is the wait the broker asked for, in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: int | None = None,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.ambiguous = ambiguous
        self.retry_after = retry_after
        super().__init__(message, hint=hint, code=code)


class VenueOutageTooLong(BrokerError):
    """The venue did not answer for longer than the live runner waits (``--max-outage``):
    start it again once the venue is back (it reconciles before trading)."""


class OrderRejected(BrokerError):
    """The broker rejected the order (insufficient buying power, rule violation): do not retry."""


class ReconciliationError(WorkbenchError):
    """The broker's positions or open orders differ from what the state file explains.

    Not a broker failure (a restart would meet the same account): a person decides
    whether to take them over (``--adopt-positions``) or to close them at the broker.
    ``differences`` are the :class:`~workbench.live.holdings.Difference` found.
    """

    exit_code = 6

    def __init__(self, message: str, *, hint: str | None = None, differences: tuple = ()) -> None:
        self.differences = differences
        super().__init__(message, hint=hint)
