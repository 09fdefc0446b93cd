"""Source spec strings and the request a source loader receives.

A spec names where bars come from, in one string that works the same in Python, the CLI
and config files::

    SCHEME:TARGET[?key=value&key=value]

    sample:SPX                      sample:SPX,NASDAQ
    csv:data/aapl.csv?tz=America/New_York&symbol=AAPL
    parquet:~/bars/btc.parquet
    synthetic:SYN?bars=100000&freq=1min&seed=7

``TARGET`` is whatever the scheme needs (symbols, a path). Options may also be passed as
keyword arguments to :func:`workbench.data.sources.load_bars`; a keyword wins over the
same option in the spec. A bare path ending in ``.csv`` or ``.parquet`` is accepted as a
spec too.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pandas as pd

from workbench.errors import ConfigError, DataSourceError

SPEC_FORMAT = "SCHEME:TARGET[?key=value&...], e.g. sample:SPX or csv:data/aapl.csv?tz=UTC"

_SUFFIX_SCHEMES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_+-]*):(.*)$", re.DOTALL)
_DATE_ONLY_RE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


@dataclass(frozen=True)
class SourceRequest:
    """Everything a loader needs: the parsed spec, the UTC range and the options.

    ``start``/``end`` are a hint (a remote source fetches only that range); the caller
    slices the result again, so a loader may return more.
    """

    spec: str
    scheme: str
    target: str
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    tz: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def symbols(self, default: str | None = None) -> list[str]:
        """The comma-separated symbols in the target (upper-cased, order kept, no repeats)."""
        names = [s.strip().upper() for s in self.target.split(",") if s.strip()]
        if not names and default:
            names = [default]
        return list(dict.fromkeys(names))

    def check_options(self, allowed: Iterable[str]) -> None:
        """Refuse options this source does not know: a typo must not be ignored."""
        allowed = tuple(allowed)
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            known = ", ".join(allowed) if allowed else "none"
            raise DataSourceError(
                f"{self.spec}: unknown option(s) {', '.join(unknown)} for {self.scheme}:",
                hint=f"options {self.scheme}: accepts: {known}",
            )

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.options.get(name)
        return default if value is None or value == "" else str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.options.get(name)
        if value is None or value == "":
            return default
        try:
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        except (TypeError, ValueError, OverflowError):
            raise DataSourceError(
                f"{self.spec}: option {name}={value!r} is not an integer",
                hint=f"write it as e.g. {name}=1000",
            ) from None

    def number(self, name: str, default: float) -> float:
        value = self.options.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise DataSourceError(
                f"{self.spec}: option {name}={value!r} is not a number",
                hint=f"write it as e.g. {name}=0.05",
            ) from None


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split ``SCHEME:TARGET?opts`` into its parts; the scheme is lower-cased."""
    if not isinstance(spec, str) or not spec.strip():
        raise DataSourceError("empty source spec", hint=f"use {SPEC_FORMAT}")
    text = spec.strip()
    match = _SCHEME_RE.match(text)
    # "C:\\data\\x.csv" is a Windows path, not the scheme "c".
    if match and len(match.group(1)) > 1:
        scheme, rest = match.group(1).lower(), match.group(2)
    else:
        suffix = "." + text.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower() if "." in text else ""
        if suffix not in _SUFFIX_SCHEMES:
            raise DataSourceError(
                f"{text!r} is not a source spec (no scheme)", hint=f"use {SPEC_FORMAT}"
            )
        scheme, rest = _SUFFIX_SCHEMES[suffix], text
    target, _, query = rest.partition("?")
    options: dict[str, str] = {}
    if query:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise DataSourceError(
                f"{text}: cannot read the options {query!r}",
                hint="write options as ?key=value&key=value",
            ) from None
        for key, value in pairs:
            options[key.strip().lower()] = value.strip()
    return scheme, target.strip(), options


def check_tz(tz: str | None) -> str | None:
    """Return ``tz`` if it names a time zone, else raise a ConfigError saying what to pass."""
    if tz is None or tz == "":
        return None
    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {tz!r}",
            hint="use an IANA name such as UTC, America/New_York or Europe/London",
        ) from None
    return str(tz)


def to_utc(value: Any, *, name: str = "start", end: bool = False) -> pd.Timestamp | None:
    """Turn a range bound (string, date, datetime, Timestamp) into a UTC Timestamp.

    Naive values are taken as UTC. A date-only ``end`` (``"2024-01-05"`` or a ``date``)
    means the whole day, so the bound is the last instant of that day: ``end`` is
    inclusive whatever the bar size.
    """
    if value is None or value == "":
        return None
    date_only = (isinstance(value, dt.date) and not isinstance(value, dt.datetime)) or (
        isinstance(value, str) and bool(_DATE_ONLY_RE.match(value))
    )
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name}={value!r} is not a date or time",
            hint="use ISO 8601, e.g. 2024-01-05 or 2024-01-05T14:30:00Z",
        ) from None
    if stamp is pd.NaT:
        raise ConfigError(f"{name} is empty (NaT)", hint="pass a date or leave it out")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if end and date_only:
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return stamp


def shown(stamp: pd.Timestamp) -> str:
    """A bound or a bar's time as a person writes it: the date alone at midnight (not
    ``2030-01-01 00:00:00+00:00``)."""
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else str(stamp)


@dataclass(frozen=True)
class GivenRange:
    """A date range's bounds as the caller gave them (``"2030-01-01"``, a date, None):
    what a refusal names, in the arguments' words or the flags'."""

    start: Any = None
    end: Any = None

    def name(self, bound: str, flags: bool) -> str:
        """``--start 2030-01-01`` (flags) or ``start='2030-01-01'`` (the Python argument)."""
        value = getattr(self, bound)
        if flags:
            return f"--{bound} {shlex.quote(str(value))}"
        if isinstance(value, str):
            return f"{bound}={value!r}"
        return f"{bound}={shown(pd.Timestamp(value))}"

    def label(self, bound: str, flags: bool) -> str:
        """The bound's name alone: ``--start`` or ``start=``."""
        return f"--{bound}" if flags else f"{bound}="

    def given_as(self, start: Any, end: Any) -> bool:
        """Whether these are exactly the strings (or None) ``start``/``end``."""
        texts = all(v is None or isinstance(v, str) for v in (self.start, self.end))
        return texts and (self.start, self.end) == (start, end)


def readable(value: Any) -> bool:
    """Whether :func:`to_utc` reads ``value`` as a time (None and "" are no bound)."""
    if value is None or value == "":
        return True
    try:
        pd.Timestamp(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class UnreadBound:
    """The facts of a range with a bound (``bound``: "start" or "end") that is not a time."""

    given: GivenRange
    bound: str

    def words(self, flags: bool) -> tuple[str, str]:
        return (
            f"{self.given.name(self.bound, flags)} is not a date or time",
            "use ISO 8601, e.g. 2024-01-05 or 2024-01-05T14:30:00Z",
        )


@dataclass(frozen=True)
class ReversedRange:
    """The facts of a range whose start is after its end."""

    given: GivenRange

    def words(self, flags: bool) -> tuple[str, str]:
        start, end = self.given.name("start", flags), self.given.name("end", flags)
        return f"{start} is after {end}", "swap them"


@dataclass(frozen=True)
class NoBars:
    """The facts of a range that holds no bar: the spec and symbol, the range as given and
    the data's own span (``first``/``last``, None when the data hold no bar)."""

    spec: str
    symbol: str
    given: GivenRange
    first: pd.Timestamp | None
    last: pd.Timestamp | None

    def words(self, flags: bool) -> tuple[str, str]:
        given = self.given
        first, last = (shown(t) if t is not None else "" for t in (self.first, self.last))
        if given.start is not None and given.end is not None:
            lo, hi = given.name("start", flags), given.name("end", flags)
            bounds = f"{given.label('start', flags)}/{given.label('end', flags)}"
            asked, fix = f"between {lo} and {hi}", f"give {bounds} inside it"
        elif given.start is not None:  # one end given: 'between 2050-01-01 and None' said before
            asked = f"from {given.name('start', flags)} on"
            fix = f"give {given.label('start', flags)} on or before {last}"
        else:
            asked = f"up to {given.name('end', flags)}"
            fix = f"give {given.label('end', flags)} on or after {first}"
        message = f"{self.spec} [{self.symbol}]: no bars {asked}"
        if self.first is None:
            return message, "the data hold no bar: check the spec"
        return message, f"the data cover {first} to {last}: {fix}"
