"""A venue outage: every REST call answers 503 and the streams are dropped and refused.

Alpaca has had outages of tens of minutes; a live runner must stay up through one and
trade again once the venue answers. The emulator plays one on its *replay clock*, so a
test can hold "two minutes of session" down while bars are stepped quickly:

- ``at``: the outage starts before the first bar at or after this time is published
  (None: at once). Its start is that bar's time (or, started at once, the replay's now).
  A daily bar's time here is where its day begins on the replay clock (New York
  midnight for ``XNYS``, :mod:`.replay`), so a day of outage hides one daily bar.
- ``duration``: it ends before the first bar at or after ``start + duration`` is
  published (None: until it is ended by hand). So with minute bars a two-minute outage
  hides exactly two bars from the streams.

While it lasts the replay goes on (orders already at the venue fill, bars are
published to nobody), as a real market does while its broker is down; the control API
(``/_emulator/...``) keeps answering. Afterwards the REST bars endpoint serves the bars
published meanwhile, as Alpaca's does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from workbench.errors import ConfigError

#: What Alpaca answers while down (the message of its 503 body).
OUTAGE_MESSAGE = "service unavailable"


@dataclass(frozen=True)
class Outage:
    """One outage on the replay clock (see the module docstring); ``start`` once begun."""

    at: pd.Timestamp | None = None
    duration: pd.Timedelta | None = None
    start: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        if self.duration is not None and not self.duration > pd.Timedelta(0):
            raise ConfigError(
                f"an outage lasts a positive time, got {self.duration}", hint="e.g. 2min"
            )

    @property
    def active(self) -> bool:
        return self.start is not None

    def begin(self, start: pd.Timestamp) -> Outage:
        return replace(self, start=start)

    def due(self, next_bar: pd.Timestamp) -> bool:
        """Whether a scheduled outage starts before ``next_bar`` is published."""
        return not self.active and (self.at is None or next_bar >= self.at)

    def over(self, next_bar: pd.Timestamp) -> bool:
        """Whether an active outage ends before ``next_bar`` is published."""
        if self.start is None or self.duration is None:
            return False
        return next_bar >= self.start + self.duration

    def to_dict(self) -> dict[str, Any]:
        def iso(t: pd.Timestamp | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "active": self.active,
            "at": iso(self.at),
            "start": iso(self.start),
            "duration_s": None if self.duration is None else self.duration.total_seconds(),
            "until": iso(
                None if self.start is None or self.duration is None else self.start + self.duration
            ),
        }

    @classmethod
    def make(cls, at: Any = None, duration: Any = None) -> Outage:
        """From a time and a duration given as strings or pandas values (``2min``, ``90s``)."""
        when = _read(at, pd.Timestamp, "outage start", "a time", "e.g. 2023-11-22T15:00Z")
        if when is not None:
            when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        length = _read(duration, pd.Timedelta, "outage duration", "a time span", "e.g. 2min")
        return cls(at=when, duration=length)

    @classmethod
    def parse(cls, spec: str) -> Outage:
        """``AT,DURATION`` (either may be empty): ``2023-11-22T15:00Z,2min`` or ``,5min``."""
        at, sep, duration = spec.partition(",")
        if not sep:
            raise ConfigError(
                f"outage spec {spec!r}: give AT,DURATION",
                hint="e.g. 2023-11-22T15:00Z,2min (replay time) or ,5min (from the start)",
            )
        return cls.make(at.strip() or None, duration.strip() or None)


def _read(value: Any, kind: Any, name: str, what: str, hint: str) -> Any:
    """``kind(value)``, None for None or "", a :class:`ConfigError` naming ``name`` else."""
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r} is not {what}", hint=hint) from None
