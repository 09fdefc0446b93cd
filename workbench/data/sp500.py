"""The 20-stock universe ``sample:SP500`` and its index ``sample:SP500_INDEX``, from skfolio.

``skfolio`` ships daily prices of 20 large US stocks (AAPL, AMD, BAC, BBY, CVX, GE, HD,
JNJ, JPM, KO, LLY, MRK, MSFT, PEP, PFE, PG, RRC, UNH, WMT, XOM) and of the S&P 500 index,
1990-01-02 to 2022-12-28, through :func:`skfolio.datasets.load_sp500_dataset` and
:func:`skfolio.datasets.load_sp500_index` (BSD-licensed; a dependency, not copied).

They are **closes only**. The frames here are marked ``attrs["close_only"] = True`` and
carry open = high = low = close and volume 0, so the ordinary fill rule (a market order
decided on bar t fills at bar t+1's open) fills at bar t+1's *close*: no intrabar range
is invented. The quality report says so (check ``close_only``).

Importing ``skfolio`` pulls in scikit-learn and cvxpy (seconds), so the bundled files are
read directly as skfolio's loader reads them; the loader is the fallback should the files
move. A test checks both paths give the same frame.

The GICS sector of each stock ships as package data (``gics_sectors.csv``) and feeds the
group-exposure risk rule (``group_exposure: {groups: gics, ...}``).
"""

from __future__ import annotations

import functools
import gzip
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import DataSourceError

UNIVERSE = "SP500"
INDEX = "SP500_INDEX"
_FILES = {
    UNIVERSE: ("sp500_dataset.csv.gz", "load_sp500_dataset"),
    INDEX: ("sp500_index.csv.gz", "load_sp500_index"),
}
DESCRIPTIONS = {
    UNIVERSE: "20 large US stocks, daily closes 1990-2022 (skfolio)",
    INDEX: "S&P 500 index, daily closes 1990-2022 (skfolio)",
}


def is_sp500(name: str) -> bool:
    return name.strip().upper() in _FILES


@functools.cache
def _prices(name: str) -> pd.DataFrame:
    """The wide price table (dates x symbols) of ``SP500`` or ``SP500_INDEX``."""
    filename, loader = _FILES[name]
    path = _bundled(filename)
    if path is None:  # pragma: no cover - only if skfolio changes its layout
        raw = getattr(importlib.import_module("skfolio.datasets"), loader)()
    else:
        with gzip.open(path, mode="rt", encoding="utf-8") as handle:
            raw = pd.read_csv(handle, sep=",", index_col=0)
        raw.index = pd.to_datetime(raw.index, format="%Y-%m-%d")
    return raw.astype(np.float64)


def _bundled(filename: str) -> Path | None:
    spec = importlib.util.find_spec("skfolio")
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError(
            "sample:SP500 needs the 'skfolio' package, which is not installed",
            hint="pip install skfolio, or workbench[research] (make install has it)",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / filename
    return path if path.is_file() else None


def sp500_symbols() -> list[str]:
    """The 20 symbols of ``sample:SP500``, in skfolio's order."""
    return [str(c) for c in _prices(UNIVERSE).columns]


def load_sp500(name: str, symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """``{symbol: close-only bars}`` of the universe (or the chosen ``symbols``) or the index."""
    key = name.strip().upper()
    prices = _prices(key)
    if key == INDEX:
        if symbols:
            raise DataSourceError(
                f"sample:{INDEX} is one series; symbols= selects from sample:{UNIVERSE}",
                hint=f"use sample:{UNIVERSE}?symbols=AAPL,MSFT",
            )
        return {INDEX: close_only_bars(prices.iloc[:, 0], INDEX)}
    chosen = symbols or list(prices.columns)
    unknown = [s for s in chosen if s not in prices.columns]
    if unknown:
        raise DataSourceError(
            f"sample:{UNIVERSE} has no {', '.join(unknown)}",
            hint=f"its symbols: {', '.join(prices.columns)}",
        )
    return {s: close_only_bars(prices[s], s) for s in chosen}


def close_only_bars(close: pd.Series, symbol: str) -> pd.DataFrame:
    """A bars frame from closes alone: open = high = low = close, volume 0, marked close-only."""
    series = close.dropna()
    values = series.to_numpy(np.float64)
    index = pd.DatetimeIndex(series.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "open": values,
            "high": values,
            "low": values,
            "close": values,
            "volume": np.zeros(len(values)),
        },
        index=index.rename("time"),
    )
    frame.attrs = {"symbol": symbol, "close_only": True}
    return frame


@functools.cache
def _sectors() -> dict[str, str]:
    table = pd.read_csv(Path(__file__).with_name("gics_sectors.csv"), dtype=str)
    return dict(zip(table["symbol"], table["sector"], strict=True))


def gics_sectors(symbols: list[str] | None = None) -> dict[str, str]:
    """The GICS sector of each ``sample:SP500`` stock (``symbols`` picks some)."""
    table = _sectors()
    if symbols is None:
        return dict(table)
    return {s: table[s] for s in symbols if s in table}
