"""One exception hierarchy, grouped by what the caller must do.

::

    WorkbenchError                 base; ``str(e)`` is one line: the problem and the fix
                                   (a reconciliation lists one difference a line)
    ├── ConfigError                fix the command line, the parameters or the config file
    │   └── ParameterError         unknown, out of range, or breaking a constraint
    ├── DataError                  the data is malformed or cannot be read; fix the file or the spec
    │   └── DataSourceError        the source spec is unknown or the source cannot be reached
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
