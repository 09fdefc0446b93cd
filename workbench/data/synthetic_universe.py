"""Seeded synthetic universes: many symbols with correlated returns and sector factors.

``synthetic:NAME?symbols=500&bars=2520&freq=1D&corr=0.3&sectors=10&seed=7`` gives 500
symbols ``NAME001``..``NAME500`` on one index (``bars`` bars ``freq`` apart from ``start``,
every calendar day as the single-symbol synthetic data). Each symbol's standardised
shock on a bar is

    ``z_i = sqrt(corr) * M + sqrt(s) * S_g(i) + sqrt(1 - corr - s) * e_i``

with ``M`` a market factor, ``S_g`` the factor of symbol i's sector ``g`` (symbols are
dealt to ``sectors`` sectors in turn; ``s = (1 - corr) / 2`` when there are sectors, else
0) and ``e_i`` its own noise, all independent standard normals: two symbols correlate by
``corr``, two of one sector by ``corr + s``. Prices follow geometric Brownian motion with
annual ``drift`` and a volatility per symbol of ``vol * exp(0.25 * N(0, 1))`` (so
inverse-volatility weights differ); open is the previous close, high and low come from
the bridge extremes as in :mod:`workbench.data.synthetic`. Each frame's
``attrs["sector"]`` names its sector (``S01``..), :func:`sectors_of` maps them for the
group-exposure rule. The same spec and seed give identical frames.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.data.spec import SourceRequest
from workbench.errors import DataSourceError

OPTIONS = ("symbols", "bars", "freq", "seed", "start", "corr", "sectors", "drift", "vol", "price")
YEAR = pd.Timedelta(days=365)


def load_universe(request: SourceRequest) -> dict[str, pd.DataFrame]:
    """Loader for ``synthetic:NAME?symbols=N&...`` (see the module docstring)."""
    from workbench.data.synthetic import DEFAULT_START, _interval

    request.check_options(OPTIONS)
    names = request.symbols(default="SYN")
    if len(names) != 1:
        raise DataSourceError(
            f"{request.spec}: symbols=N names its symbols itself; give one NAME",
            hint="e.g. synthetic:SYN?symbols=500&bars=2520&freq=1D",
        )
    count = request.integer("symbols", 0) or 0
    n = request.integer("bars", 2520) or 0
    sectors = request.integer("sectors", 0) or 0
    corr = request.number("corr", 0.3)
    if count < 1 or n < 2 or sectors < 0:
        raise DataSourceError(
            f"{request.spec}: symbols, bars and sectors must be positive (sectors may be 0)",
            hint="e.g. symbols=500&bars=2520&sectors=10",
        )
    if not 0.0 <= corr < 1.0:
        raise DataSourceError(f"{request.spec}: corr={corr} must be in [0, 1)", hint="corr=0.3")
    step = _interval(request.text("freq", "1D") or "1D")
    start = pd.Timestamp(request.text("start") or request.start or DEFAULT_START)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    index = pd.date_range(start, periods=n, freq=step, name="time")
    frames = correlated_bars(
        count,
        index,
        corr=corr,
        sectors=sectors,
        seed=request.integer("seed", 0) or 0,
        drift=request.number("drift", 0.05),
        vol=request.number("vol", 0.25),
        price=request.number("price", 100.0),
        dt=step / YEAR,
    )
    width = len(str(count))
    out: dict[str, pd.DataFrame] = {}
    for i, frame in enumerate(frames):
        symbol = f"{names[0]}{i + 1:0{max(width, 3)}d}"
        frame.attrs["symbol"] = symbol
        out[symbol] = frame
    return out


def correlated_bars(
    count: int,
    index: pd.DatetimeIndex,
    *,
    corr: float,
    sectors: int,
    seed: int,
    drift: float,
    vol: float,
    price: float,
    dt: float,
) -> list[pd.DataFrame]:
    """``count`` bars frames on ``index`` with the factor structure of the module docstring."""
    n = len(index)
    rng = np.random.default_rng(seed)
    share = (1.0 - corr) / 2.0 if sectors else 0.0
    group = np.arange(count) % sectors if sectors else np.zeros(count, dtype=np.int64)
    sigma = vol * np.exp(0.25 * rng.standard_normal(count))[:, None]
    z = np.sqrt(corr) * rng.standard_normal(n)[None, :]
    if sectors:
        z = z + np.sqrt(share) * rng.standard_normal((sectors, n))[group]
    z = z + np.sqrt(1.0 - corr - share) * rng.standard_normal((count, n))
    var = sigma**2 * dt
    r = (drift - 0.5 * sigma**2) * dt + np.sqrt(var) * z
    del z
    close = price * np.exp(np.cumsum(r, axis=1))
    open_ = np.empty_like(close)
    open_[:, 0] = price
    open_[:, 1:] = close[:, :-1]
    u = 1.0 - rng.random((count, n))
    high = np.maximum(
        open_ * np.exp(0.5 * (r + np.sqrt(r**2 - 2.0 * var * np.log(u)))), np.maximum(open_, close)
    )
    u = 1.0 - rng.random((count, n))
    low = np.minimum(
        open_ * np.exp(0.5 * (r - np.sqrt(r**2 - 2.0 * var * np.log(u)))), np.minimum(open_, close)
    )
    volume = np.round(1e5 * np.exp(0.4 * rng.standard_normal((count, n))))
    frames = []
    for i in range(count):
        frame = pd.DataFrame(
            {
                "open": open_[i],
                "high": high[i],
                "low": low[i],
                "close": close[i],
                "volume": volume[i],
            },
            index=index,
        )
        frame.attrs = {"sector": f"S{group[i] + 1:02d}" if sectors else "ALL"}
        frames.append(frame)
    return frames


def sectors_of(bars: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """``{symbol: sector}`` of a synthetic universe (for ``group_exposure.groups``)."""
    return {s: str(f.attrs.get("sector", "ALL")) for s, f in bars.items()}
