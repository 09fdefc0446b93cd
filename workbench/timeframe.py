"""Bar timeframes a strategy is researched and traded on: ``1Min 5Min 15Min 1Hour 1Day``.

The names are Alpaca's (``TimeFrame(5, TimeFrameUnit.Minute)`` is written ``5Min``), so
a run spec, the command line and the venue speak the same words. A :class:`Timeframe`
knows its pandas offset (for resampling) and its length (for staleness and counting
bars); :func:`infer_timeframe` reads it off research data, which is how promotion
records the timeframe a strategy was validated on when it is not given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from workbench.errors import ConfigError, DataError

__all__ = ["TIMEFRAMES", "Timeframe", "infer_timeframe", "parse_timeframe"]

_UNITS = {"Min": "min", "Hour": "h", "Day": "D"}


@dataclass(frozen=True, slots=True)
class Timeframe:
    """One supported bar length, e.g. ``Timeframe(5, "Min")`` is ``5Min``."""

    amount: int
    unit: str  # "Min", "Hour" or "Day"

    def __post_init__(self) -> None:
        if (self.amount, self.unit) not in _SUPPORTED:
            raise ConfigError(
                f"timeframe {self.amount}{self.unit} is not supported",
                hint="use one of " + ", ".join(TIMEFRAMES),
            )

    @property
    def name(self) -> str:
        return f"{self.amount}{self.unit}"

    def __str__(self) -> str:
        return self.name

    @property
    def rule(self) -> str:
        """The pandas frequency string (``5min``, ``1h``, ``1D``)."""
        return f"{self.amount}{_UNITS[self.unit]}"

    @property
    def offset(self) -> pd.DateOffset:
        """The pandas offset, for resampling."""
        return pd.tseries.frequencies.to_offset(self.rule)

    @property
    def length(self) -> pd.Timedelta:
        """The nominal length of one bar (a session bar of ``1Day`` may be shorter)."""
        return pd.Timedelta(self.rule)

    @property
    def intraday(self) -> bool:
        return self.unit != "Day"


_SUPPORTED = ((1, "Min"), (5, "Min"), (15, "Min"), (1, "Hour"), (1, "Day"))
_BY_NAME = {tf.name: tf for tf in (Timeframe(a, u) for a, u in _SUPPORTED)}
#: The supported names, shortest first.
TIMEFRAMES: tuple[str, ...] = tuple(_BY_NAME)
_WORDS = {
    "min": "Min", "m": "Min", "t": "Min", "minute": "Min", "minutes": "Min",
    "hour": "Hour", "h": "Hour", "hours": "Hour",
    "day": "Day", "d": "Day", "days": "Day",
}  # fmt: skip


def parse_timeframe(value: Timeframe | str) -> Timeframe:
    """``"1Day"``, ``"1day"``, ``"1D"``, ``"60min"`` or ``"1h"``: the :class:`Timeframe`.

    Anything else, or a length that is not one of :data:`TIMEFRAMES`, is a
    :class:`~workbench.errors.ConfigError` naming the accepted ones.
    """
    if isinstance(value, Timeframe):
        return value
    hint = "use one of " + ", ".join(TIMEFRAMES)
    if not isinstance(value, str):
        raise ConfigError(f"a timeframe must be a name such as 1Day, got {value!r}", hint=hint)
    match = re.fullmatch(r"\s*(\d*)\s*([A-Za-z]+)\s*", value)
    unit = _WORDS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ConfigError(f"timeframe {value!r} is not known", hint=hint)
    amount = int(match.group(1) or 1)
    return _from_length(pd.Timedelta(f"{amount}{_UNITS[unit]}"), f"timeframe {value!r}", hint)


def _from_length(length: pd.Timedelta, what: str, hint: str) -> Timeframe:
    for tf in _BY_NAME.values():
        if tf.length == length:
            return tf
    raise ConfigError(f"{what} is not supported", hint=hint)


def infer_timeframe(bars: pd.DataFrame | pd.DatetimeIndex) -> Timeframe:
    """The timeframe of bars: their index's frequency, else the most common spacing.

    Daily bars skipping weekends and holidays are ``1Day`` (the most common step is a
    day); session minute bars are ``1Min`` (the overnight gaps are rare steps).
    """
    from workbench.data.bars import bar_interval

    index = bars if isinstance(bars, pd.DatetimeIndex) else bars.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError("cannot infer a timeframe: the bars are not indexed by time")
    length = bar_interval(index)
    return _from_length(
        length,
        f"the data's bar length {length}",
        "resample it to one of " + ", ".join(TIMEFRAMES) + " or pass --timeframe",
    )
