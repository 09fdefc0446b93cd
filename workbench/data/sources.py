"""Load bars from any source named by a spec string (see :mod:`workbench.data.spec`).

Built-in schemes:

=============  =============================================================================
``sample:``    real S&P 500 (``SPX``) and Nasdaq Composite (``NASDAQ``) daily bars, 1999-2018;
               20 US stocks (``SP500``) and their index (``SP500_INDEX``), closes 1990-2022
``csv:``       a CSV file; columns and timestamps normalised (:mod:`workbench.data.csvfiles`)
``parquet:``   a Parquet file, same rules
``synthetic:`` seeded geometric Brownian motion with regimes (:mod:`workbench.data.synthetic`)
=============  =============================================================================

Sources are looked up in :data:`SOURCES`, keyed by scheme. Another module adds one with
:func:`register_source` (the Alpaca adapter registers ``alpaca:``); a loader takes a
:class:`~workbench.data.spec.SourceRequest` and returns ``{symbol: bars}``. This module
then slices the range, checks the format and sets ``attrs["symbol"]`` and
``attrs["source"]``, so every loader gets the same treatment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.data import alpaca, csvfiles, samples, synthetic
from workbench.data.bars import as_bars
from workbench.data.spec import (
    SPEC_FORMAT,
    GivenRange,
    NoBars,
    ReversedRange,
    SourceRequest,
    UnreadBound,
    check_tz,
    parse_spec,
    readable,
    to_utc,
)
from workbench.errors import (
    BadRangeError,
    ConfigError,
    DataError,
    DataSourceError,
    EmptyRangeError,
)

log = logging.getLogger(__name__)

Loader = Callable[[SourceRequest], dict[str, pd.DataFrame]]


@dataclass(frozen=True)
class Source:
    """A registered scheme: its loader and what ``workbench data list`` says about it."""

    scheme: str
    loader: Loader
    description: str
    example: str


SOURCES: dict[str, Source] = {}


def register_source(
    scheme: str, loader: Loader, *, description: str, example: str, replace: bool = False
) -> Source:
    """Make ``scheme:`` specs load through ``loader``."""
    key = scheme.strip().lower().rstrip(":")
    if key in SOURCES and not replace:
        raise ConfigError(
            f"source scheme {key!r} is already registered",
            hint="pass replace=True to override it",
        )
    SOURCES[key] = Source(key, loader, description, example)
    return SOURCES[key]


register_source(
    "sample",
    samples.load_samples,
    description="bundled real daily bars: " + ", ".join(samples.sample_names()),
    example="sample:SPX,NASDAQ or sample:SP500?symbols=AAPL,MSFT",
)
register_source(
    "csv",
    csvfiles.load_csv,
    description="a CSV file (options: tz, symbol, format)",
    example="csv:data/aapl.csv?tz=America/New_York",
)
register_source(
    "parquet",
    csvfiles.load_parquet,
    description="a Parquet file (options: tz, symbol, format)",
    example="parquet:data/btc.parquet",
)
register_source(
    "alpaca",
    alpaca.load_alpaca,
    description="Alpaca historical bars, cached (options: " + ", ".join(alpaca.OPTIONS) + ")",
    example="alpaca:SPY?timeframe=1Day&feed=iex (with start=)",
)
register_source(
    "synthetic",
    synthetic.load_synthetic,
    description="seeded GBM bars (options: " + ", ".join(synthetic.OPTIONS) + ")",
    example="synthetic:SYN?bars=100000&freq=1min&seed=7",
)


def load_symbols(
    spec: str, start: Any = None, end: Any = None, *, tz: str | None = None, **options: Any
) -> dict[str, pd.DataFrame]:
    """Bars of every symbol a spec names, ``{symbol: bars}`` in the spec's order.

    ``start``/``end`` are inclusive and accept strings, dates or Timestamps (naive ones are
    UTC; a date-only ``end`` includes that whole day). ``tz`` is the zone of naive file
    timestamps. Other keywords are source options and win over the same option in the spec.
    """
    request = make_request(spec, start, end, tz=tz, **options)
    source = SOURCES.get(request.scheme)
    if source is None:
        known = ", ".join(f"{s}:" for s in SOURCES)
        raise DataSourceError(
            f"unknown source {request.scheme + ':'!r} in {spec!r} (known: {known})",
            hint=f"use {SPEC_FORMAT}",
        )
    log.debug("loading %s", request)
    frames = source.loader(request)
    if not frames:
        raise DataError(f"{spec}: the source returned no symbols", hint="check the spec")
    out: dict[str, pd.DataFrame] = {}
    given = _given(request, start, end)
    for symbol, frame in frames.items():
        bars = _in_range(as_bars(frame, name=f"{spec} [{symbol}]"), request, symbol, given)
        bars.attrs = {**frame.attrs, "symbol": symbol, "source": request.spec}
        out[symbol] = bars
    return out


def load_bars(
    spec: str, start: Any = None, end: Any = None, *, tz: str | None = None, **options: Any
) -> pd.DataFrame:
    """Bars of the one symbol a spec names (see :func:`load_symbols` for the arguments)."""
    frames = load_symbols(spec, start, end, tz=tz, **options)
    if len(frames) != 1:
        raise DataSourceError(
            f"{spec} names {len(frames)} symbols ({', '.join(frames)}), load_bars returns one",
            hint="use load_symbols() for several, or name one symbol",
        )
    return next(iter(frames.values()))


def make_request(
    spec: str, start: Any = None, end: Any = None, *, tz: str | None = None, **options: Any
) -> SourceRequest:
    """Parse the spec and merge its options with the keywords (keywords win)."""
    scheme, target, spec_options = parse_spec(spec)
    merged: dict[str, Any] = {**spec_options, **{k.lower(): v for k, v in options.items()}}
    zone = tz if tz not in (None, "") else merged.pop("tz", None)
    merged.pop("tz", None)
    lo, hi = _bounds(GivenRange(start, end))
    return SourceRequest(
        spec=spec.strip(),
        scheme=scheme,
        target=target,
        start=lo,
        end=hi,
        tz=check_tz(zone),
        options=merged,
    )


def _bounds(given: GivenRange) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The range's UTC bounds; a bound that is no time, or a start after the end, refused
    in the arguments' words (the command line says them again as flags)."""
    for bound in ("start", "end"):
        if not readable(getattr(given, bound)):
            raise BadRangeError.of(UnreadBound(given, bound))
    lo, hi = to_utc(given.start, name="start"), to_utc(given.end, name="end", end=True)
    if lo is not None and hi is not None and lo > hi:
        raise BadRangeError.of(ReversedRange(given))
    return lo, hi


def _given(request: SourceRequest, start: Any, end: Any) -> GivenRange:
    """The range as the caller gave it (an empty bound is none, as :func:`to_utc` reads it)."""
    return GivenRange(
        start if request.start is not None else None, end if request.end is not None else None
    )


def _in_range(
    bars: pd.DataFrame, request: SourceRequest, symbol: str, given: GivenRange
) -> pd.DataFrame:
    """The bars inside the request's range; none is refused with the data's own span, in the
    arguments' words (``start='2030-01-01'``; the command line says them again as flags)."""
    if request.start is None and request.end is None:
        return bars
    keep = pd.Series(True, index=bars.index)
    if request.start is not None:
        keep &= bars.index >= request.start
    if request.end is not None:
        keep &= bars.index <= request.end
    if not keep.any():
        first, last = (bars.index.min(), bars.index.max()) if len(bars) else (None, None)
        raise EmptyRangeError.of(NoBars(request.spec, symbol, given, first, last))
    return bars[keep.to_numpy()]


def describe_sources() -> list[Source]:
    """The registered sources, in registration order (for ``workbench data list``)."""
    return list(SOURCES.values())
