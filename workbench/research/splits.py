"""In-sample / out-of-sample splits: a holdout, and walk-forward windows, rolling or anchored.

Every window is a half-open range of bar positions ``[start, stop)`` of one index, with
its first and last timestamps. A fold is a train window, an optional gap (the *purge*:
bars left out so that nothing computed on the last train bars reaches into the test
window) and a test window that starts after it::

    rolling   |--train--|gap|--test--|
              .  step  |--train--|gap|--test--|
    anchored  |--train--|gap|--test--|
              |-----train-----|gap|--test--|

Lengths are given in bars (``756``, ``"756"``, ``"756bars"``) or in time (``"3y"``,
``"6mo"``, ``"2w"``, ``"90d"``, ``"12h"``, ``"30min"``, a ``pandas.Timedelta`` or
``DateOffset``). In time, a window holds the bars whose timestamps fall in
``[t, t + length)``; ``train``, ``test`` and ``step`` must all be bars or all be time,
and the gap may be either. ``step`` defaults to the test length, so test windows tile
the data without overlapping: each starts on the bar after the last one's (a gap in time
between bar windows purges the train window's last bars, as many as that span holds
before each test window; a gap in bars after time windows moves each test span on by
that many bars). Only complete test windows make a fold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.bars import bar_interval
from workbench.errors import ConfigError

__all__ = ["Fold", "Length", "NoFoldError", "Window", "holdout", "parse_length", "walk_forward"]

Length = int | pd.DateOffset
_UNITS = {
    "y": "years",
    "yr": "years",
    "year": "years",
    "years": "years",
    "mo": "months",
    "month": "months",
    "months": "months",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
}
_LENGTH = re.compile(r"^\s*(-?\d+)\s*([a-z]*)\s*$")  # a negative one: refused as such
_HINT = "bars (756 or 756bars) or time (3y, 6mo, 2w, 90d, 12h, 30min)"


@dataclass(frozen=True, slots=True)
class Window:
    """Bars ``[start, stop)`` of an index; ``first`` and ``last`` are their timestamps."""

    start: int
    stop: int
    first: pd.Timestamp
    last: pd.Timestamp

    @property
    def bars(self) -> int:
        return self.stop - self.start

    def slice(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` (on the same index) in this window."""
        return frame.iloc[self.start : self.stop]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "stop": self.stop,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "bars": self.bars,
        }


@dataclass(frozen=True, slots=True)
class Fold:
    """One in-sample (train) window and the out-of-sample (test) window after it."""

    number: int
    train: Window
    test: Window

    @property
    def gap(self) -> int:
        """Bars left out between the last train bar and the first test bar."""
        return self.test.start - self.train.stop

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.number,
            "train": self.train.to_dict(),
            "test": self.test.to_dict(),
            "gap": self.gap,
        }


def parse_length(
    value: Any, *, name: str = "length", allow_zero: bool = False, label: str | None = None
) -> Length:
    """Bars as an ``int``, or a time span as a ``DateOffset``, from any accepted spelling.
    ``label``: how an error names the value (default ``name=value``; the command line's
    ``--gap -5``)."""

    def refuse(shown: Any, problem: str) -> ConfigError:
        return ConfigError(f"{label or f'{name}={shown}'} {problem}", hint=f"give {_HINT}")

    if isinstance(value, bool):
        raise refuse(repr(value), "is not a length")
    if isinstance(value, int | np.integer):
        count = int(value)
    elif isinstance(value, pd.DateOffset):
        return value
    elif isinstance(value, pd.Timedelta):
        if value <= pd.Timedelta(0) and not (allow_zero and value == pd.Timedelta(0)):
            raise refuse(value, "must be positive")
        return pd.DateOffset(seconds=value.total_seconds())
    elif isinstance(value, str):
        match = _LENGTH.match(value.lower())
        unit = match.group(2) if match else None
        if match is None or (unit and unit not in _UNITS and unit not in ("bar", "bars")):
            raise refuse(repr(value), "is not a length")
        count = int(match.group(1))
        if unit in _UNITS:
            if count < 0 or (count == 0 and not allow_zero):
                raise refuse(repr(value), "must be 0 or more" if allow_zero else "must be positive")
            return pd.DateOffset(**{_UNITS[unit]: count}) if count else 0
    else:
        raise refuse(repr(value), "is not a length")
    if count < 0 or (count == 0 and not allow_zero):
        what = "a number of bars >= 0" if allow_zero else "a positive number of bars"
        raise refuse(count, f"must be {what}")
    return count


def holdout(index: pd.DatetimeIndex, test: Any = 0.3, *, gap: Any = 0) -> Fold:
    """One split: the last ``test`` of the data out of sample, everything before it in sample.

    ``test`` is a fraction of the bars (``0.3``), a number of bars or a time span
    (``"2y"``: the test window holds the bars of the last two years).
    """
    index = _check_index(index)
    n = len(index)
    if isinstance(test, float) and not isinstance(test, bool):
        if not 0 < test < 1:
            raise ConfigError(f"test={test} must be a fraction in (0, 1), a bar count or a span")
        test_bars = max(round(n * test), 1)
        test_start = n - test_bars
    else:
        length = parse_length(test, name="test")
        if isinstance(length, int):
            test_start = n - length
        else:
            end = index[-1] + bar_interval(index)
            test_start = int(index.searchsorted(end - length, side="left"))
    gap_len = parse_length(gap, name="gap", allow_zero=True)
    if isinstance(gap_len, int):
        train_stop = test_start - gap_len
    else:
        train_stop = int(index.searchsorted(index[min(test_start, n - 1)] - gap_len, side="left"))
    if train_stop < 1 or test_start >= n:
        raise ConfigError(
            f"holdout test={test!r}, gap={gap!r} leaves no train or no test bars "
            f"in {n} bars ({index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d})",
            hint="choose a shorter test window or gap",
        )
    return Fold(0, _window(index, 0, train_stop), _window(index, test_start, n))


def walk_forward(
    index: pd.DatetimeIndex,
    train: Any,
    test: Any,
    *,
    step: Any = None,
    gap: Any = 0,
    anchored: bool = False,
) -> list[Fold]:
    """Walk-forward folds over ``index`` (see the module docstring for the layout).

    Rolling: every train window has the same length and moves by ``step``. Anchored:
    every train window starts at the first bar and grows by ``step``.
    """
    index = _check_index(index, least=1)  # one bar: no fold, said as such
    train_len = parse_length(train, name="train")
    test_len = parse_length(test, name="test")
    step_len = test_len if step is None else parse_length(step, name="step")
    gap_len = parse_length(gap, name="gap", allow_zero=True)
    kinds = {isinstance(v, int) for v in (train_len, test_len, step_len)}
    if len(kinds) > 1:
        raise ConfigError(
            f"train={train!r}, test={test!r}, step={step!r} mix bars and time",
            hint="give all three in bars (756) or all in time (3y)",
        )
    if len(index) < 2:
        folds = []
    elif isinstance(train_len, int):
        folds = _folds_in_bars(index, train_len, test_len, step_len, gap_len, anchored)
    else:
        folds = _folds_in_time(index, train_len, test_len, step_len, gap_len, anchored)
    if not folds:
        given = {"train": train, "gap": gap, "test": test}
        parsed = {"train": train_len, "gap": gap_len, "test": test_len}
        raise NoFoldError(index, given, parsed)
    return folds


class NoFoldError(ConfigError):
    """No complete fold fits the data: what the data holds and what the first fold needs.

    Said in the Python names (``train=5000 + test=250 needs 5,250``); :meth:`worded` says it
    again in a caller's words (the command line's ``--train 5000``) and with its way to more
    data (``widen --start/--end``), from the same facts.
    """

    def __init__(
        self,
        index: pd.DatetimeIndex,
        given: dict[str, Any],
        parsed: dict[str, Length],
        *,
        flags: bool = False,
        more: str = "give more bars",
    ) -> None:
        self.index, self.given, self.parsed = index, given, parsed
        message, hint = self._line(flags, more)
        super().__init__(message, hint=hint)

    def worded(self, *, flags: bool, more: str) -> NoFoldError:
        """The same refusal naming the lengths as flags (``--train 5000``) or as the Python
        names (``train=5000``), its fix offering ``more`` as the way to more data."""
        return NoFoldError(self.index, self.given, self.parsed, flags=flags, more=more)

    def _line(self, flags: bool, more: str) -> tuple[str, str]:
        shown = [n for n in ("train", "gap", "test") if n != "gap" or self.parsed["gap"]]

        def label(name: str) -> str:
            value = self.given[name]
            return f"--{name} {value}" if flags else f"{name}={value!r}"

        names = " + ".join(label(n) for n in shown)
        fix = "shorten " + "/".join(f"{'--' if flags else ''}{n}" for n in shown)
        if self._fits():  # long enough, but some window holds no bar (1h windows of days)
            spacing = _spacing(bar_interval(self.index))
            return (
                f"no complete fold: {self._held()}; {names} leave a train or test window "
                f"without a bar",
                f"give windows longer than the bars' spacing ({spacing})",
            )
        return f"no complete fold: {self._held()}; {names} needs {self._need()}", f"{fix} or {more}"

    def _held(self) -> str:
        index = self.index
        if len(index) == 1:
            return f"the data holds 1 bar, on {index[0]:%Y-%m-%d}"
        return (
            f"the data holds {len(index):,} bars from {index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d}"
        )

    def _need(self) -> str:
        """What the first fold needs: bars, or (windows in time) data up to a date."""
        train, gap, test = (self.parsed[n] for n in ("train", "gap", "test"))
        if isinstance(train, int) and isinstance(test, int):
            if isinstance(gap, int):
                return f"{train + gap + test:,}"
            return f"{train + test:,} bars with {self.given['gap']} between them"
        end = self._needed_end()
        extra = f" and {gap:,} bars more" if isinstance(gap, int) and gap else ""
        return f"data to {end:%Y-%m-%d}{extra}"

    def _needed_end(self) -> pd.Timestamp:
        """Where the first fold's test window ends (windows in time)."""
        train, gap, test = (self.parsed[n] for n in ("train", "gap", "test"))
        end = self.index[0] + train + test
        return end + gap if isinstance(gap, pd.DateOffset) else end

    def _fits(self) -> bool:
        """Windows in time whose first fold's span fits the data: empty windows, not short data."""
        if isinstance(self.parsed["train"], int) or len(self.index) < 2:
            return False
        end, gap = self._needed_end(), self.parsed["gap"]
        if isinstance(gap, int) and len(self.index) - self.index.searchsorted(end) < gap:
            return False  # the gap's bars after the span are missing
        return end <= self.index[-1] + bar_interval(self.index)


def _folds_in_bars(
    index: pd.DatetimeIndex, train: int, test: int, step: int, gap: Length, anchored: bool
) -> list[Fold]:
    n = len(index)
    folds: list[Fold] = []
    first_test = _after_gap(index, train, gap)
    k = 0
    while True:
        if isinstance(gap, int):
            train_stop = train + k * step
            test_start = train_stop + gap
        else:  # the test windows tile the data; each train window ends before its purge,
            # which holds a varying number of bars (weekends, holidays)
            test_start = first_test + k * step
            if test_start >= n:
                return folds
            train_stop = int(index.searchsorted(index[test_start] - gap, side="left"))
        train_start = 0 if anchored else max(train_stop - train, 0)
        test_stop = test_start + test
        if test_stop > n:
            return folds
        folds.append(_fold(index, k, train_start, train_stop, test_start, test_stop))
        k += 1


def _folds_in_time(
    index: pd.DatetimeIndex,
    train: pd.DateOffset,
    test: pd.DateOffset,
    step: pd.DateOffset,
    gap: Length,
    anchored: bool,
) -> list[Fold]:
    n = len(index)
    origin = index[0]
    data_end = index[-1] + bar_interval(index)  # the end of the last bar
    first_end = origin + train  # where the first train window ends; then every step
    folds: list[Fold] = []
    k = 0
    while True:
        anchor = origin + step * k if k else origin
        # from one origin (not the last fold's end): month and year arithmetic clips at
        # month ends, so chained additions would drift and leave holes or overlaps
        train_end_time = first_end + step * k if k else first_end
        # with step == test, a test window ends where the next one starts: they tile the data
        test_span_end = first_end + step * (k + 1) if step == test else train_end_time + test
        train_start = 0 if anchored else int(index.searchsorted(anchor, side="left"))
        train_stop = int(index.searchsorted(train_end_time, side="left"))
        if isinstance(gap, int):  # the test span's bars, moved on by the purged bars
            if test_span_end > data_end:
                return folds
            test_start = train_stop + gap
            test_stop = int(index.searchsorted(test_span_end, side="left")) + gap
            if test_stop > n:
                return folds
        else:
            test_start = int(index.searchsorted(train_end_time + gap, side="left"))
            test_end_time = test_span_end + gap
            if test_end_time > data_end:
                return folds
            test_stop = int(index.searchsorted(test_end_time, side="left"))
        if train_stop > train_start and test_stop > test_start:
            folds.append(_fold(index, len(folds), train_start, train_stop, test_start, test_stop))
        k += 1


def _spacing(span: pd.Timedelta) -> str:
    """A bar spacing as a person writes it: ``1 day``, ``2 days``, ``01:00:00``."""
    if span % pd.Timedelta(days=1) == pd.Timedelta(0):
        return f"{span.days} day" + ("" if span.days == 1 else "s")
    return str(span).removeprefix("0 days ")


def _after_gap(index: pd.DatetimeIndex, train_stop: int, gap: Length) -> int:
    if isinstance(gap, int):
        return train_stop + gap
    if train_stop >= len(index):
        return len(index) + 1
    return int(index.searchsorted(index[train_stop] + gap, side="left"))


def _fold(
    index: pd.DatetimeIndex, k: int, train_start: int, train_stop: int, test_start: int, stop: int
) -> Fold:
    return Fold(k, _window(index, train_start, train_stop), _window(index, test_start, stop))


def _window(index: pd.DatetimeIndex, start: int, stop: int) -> Window:
    return Window(start, stop, index[start], index[stop - 1])


def _check_index(index: Sequence[Any] | pd.Index, least: int = 2) -> pd.DatetimeIndex:
    """``index`` as a sorted, unique DatetimeIndex of ``least`` (2 or 1) bars or more."""
    if isinstance(index, pd.DataFrame | pd.Series):
        index = index.index
    if not isinstance(index, pd.DatetimeIndex):
        raise ConfigError(
            f"splits need a DatetimeIndex, got {type(index).__name__}",
            hint="pass bars.index (a bars frame's index)",
        )
    if len(index) < least:
        bars = "two bars" if least == 2 else "a bar"
        raise ConfigError(f"splits need at least {bars}, got {len(index)}")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise ConfigError(
            "the index is out of order or has duplicated timestamps",
            hint="sort and de-duplicate the bars first (workbench.clean)",
        )
    return index
