"""Bundled sample data: real daily bars of the S&P 500 and the Nasdaq Composite, 1999-2018,
and the 20-stock universe ``SP500`` with its index ``SP500_INDEX`` (:mod:`workbench.data.sp500`).

``sample:SPX,NASDAQ`` names symbols; ``sample:SP500`` names the whole universe, and
``sample:SP500?symbols=AAPL,MSFT`` some of its stocks.

The index data ship with the ``arch`` package (``arch.data.sp500`` and ``arch.data.nasdaq``).
Importing ``arch`` itself takes over a second (it compiles its GARCH recursions), so the
bundled ``.csv.gz`` file is located without importing the package and read the same way
``arch``'s ``load()`` reads it; ``load()`` is the fallback should the file ever move.
A test checks that both paths give the same frame.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data import sp500
from workbench.data.spec import SourceRequest
from workbench.errors import DataSourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One bundled data set: our symbol, what it is, and where ``arch`` keeps it."""

    symbol: str
    description: str
    module: str  # arch.data.<module>
    filename: str


SAMPLES: dict[str, Sample] = {
    "SPX": Sample("SPX", "S&P 500 index, daily bars", "sp500", "sp500.csv.gz"),
    "NASDAQ": Sample("NASDAQ", "Nasdaq Composite index, daily bars", "nasdaq", "nasdaq.csv.gz"),
}


def sample_names() -> list[str]:
    """Every name ``sample:`` accepts (the universe ``SP500`` stands for its 20 stocks)."""
    return [*SAMPLES, sp500.UNIVERSE, sp500.INDEX]


def load_sample(symbol: str) -> pd.DataFrame:
    """Daily bars of one sample (``SPX``, ``NASDAQ``, ``SP500_INDEX`` or one of the 20)."""
    name = str(symbol).strip().upper()
    if name == sp500.INDEX:
        return sp500.load_sp500(name)[name]
    if name in sp500.gics_sectors():
        return sp500.load_sp500(sp500.UNIVERSE, [name])[name]
    frame = _load_cached(_resolve(symbol).symbol)
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    return out


def load_samples(request: SourceRequest) -> dict[str, pd.DataFrame]:
    """Loader for ``sample:SYMBOL[,SYMBOL...]`` and ``sample:SP500[?symbols=A,B]``."""
    request.check_options(("symbols",))
    names = request.symbols()
    if not names:
        raise DataSourceError(
            f"{request.spec}: no sample named",
            hint=f"available samples: {', '.join(sample_names())}, e.g. sample:SPX",
        )
    chosen = [s.strip().upper() for s in (request.text("symbols") or "").split(",") if s.strip()]
    if chosen and sp500.UNIVERSE not in names:
        raise DataSourceError(
            f"{request.spec}: symbols= selects stocks of sample:{sp500.UNIVERSE}",
            hint=f"use sample:{sp500.UNIVERSE}?symbols={','.join(chosen)}",
        )
    out: dict[str, pd.DataFrame] = {}
    for name in names:
        if name == sp500.UNIVERSE:
            out.update(sp500.load_sp500(name, list(dict.fromkeys(chosen)) or None))
        elif sp500.is_sp500(name) or name in sp500.gics_sectors():
            out[name] = load_sample(name)
        else:
            sample = _resolve(name)
            out[sample.symbol] = load_sample(sample.symbol)
    return out


def _resolve(symbol: str) -> Sample:
    sample = SAMPLES.get(str(symbol).strip().upper())
    if sample is None:
        raise DataSourceError(
            f"unknown sample {symbol!r}",
            hint=f"available samples: {', '.join(sample_names())}",
        )
    return sample


@functools.cache
def _load_cached(symbol: str) -> pd.DataFrame:
    sample = SAMPLES[symbol]
    raw = _read_bundled(sample)
    if raw is None:  # pragma: no cover - only if arch changes its layout
        log.debug("bundled file for %s not found; importing arch", symbol)
        raw = importlib.import_module(f"arch.data.{sample.module}").load()
    return from_arch(raw, symbol)


def _read_bundled(sample: Sample) -> pd.DataFrame | None:
    """Read ``arch/data/<module>/<file>`` as ``arch.data.utility.load_file`` does."""
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError(
            "the sample data need the 'arch' package, which is not installed",
            hint="pip install arch (it is a workbench dependency: run make install)",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / sample.module
    path = path / sample.filename
    if not path.is_file():  # pragma: no cover
        return None
    data = pd.read_csv(path)
    data["Date"] = pd.to_datetime(data["Date"])
    data = data.set_index("Date")
    for col in data:
        data[col] = pd.to_numeric(data[col], errors="coerce")
    return data


def from_arch(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Convert an ``arch`` data set (naive dates, Title-case columns) to the bars format."""
    index = pd.DatetimeIndex(raw.index).tz_localize("UTC")
    frame = pd.DataFrame(
        {
            "open": raw["Open"].to_numpy(np.float64),
            "high": raw["High"].to_numpy(np.float64),
            "low": raw["Low"].to_numpy(np.float64),
            "close": raw["Close"].to_numpy(np.float64),
            "volume": raw["Volume"].to_numpy(np.float64),
            "adj_close": raw["Adj Close"].to_numpy(np.float64),
        },
        index=index.rename("time"),
    )
    frame.attrs = {"symbol": symbol}
    return frame
