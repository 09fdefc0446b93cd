"""Numbers on the command line checked in the command line's words (``--jobs``, not the
Python name ``workers``), before a command makes a file or does any work."""

from __future__ import annotations

import math

from workbench.errors import ConfigError


def check_number(flag: str, value: float | None, low: float | None, hint: str) -> None:
    """Refuse ``value`` of ``flag`` below ``low`` (None: it must be positive), or not finite;
    None (the flag not given) passes."""
    if value is None:
        return
    if low is None:
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} must be a positive number, got {value:g}", hint=hint)
    elif not (math.isfinite(value) and value >= low):
        raise ConfigError(f"{flag} must be at least {low:g}, got {value:g}", hint=hint)


def check_jobs(jobs: int) -> None:
    """``--jobs``: processes run at once, one at least (``workers`` in the Python API)."""
    check_number("--jobs", jobs, 1, "e.g. --jobs 2 runs two at once; 1 runs one at a time")
