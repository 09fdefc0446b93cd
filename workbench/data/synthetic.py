"""Seeded synthetic bars: geometric Brownian motion with optional regimes.

The model, bar by bar (all vectorised, so a million bars take a fraction of a second):

- **Time.** Synthetic markets trade around the clock, every day: bars are spaced exactly
  ``freq`` apart from ``start``, and a year has ``365 days / freq`` bars (525,600 minute
  bars, 365 daily bars). ``drift`` and ``vol`` are annual and scaled with that count.
- **Sessions.** ``session=XNYS`` (any ``exchange_calendars`` code) trades only in that
  exchange's regular sessions from ``start`` to ``end``: intraday bars every ``freq``
  from each open to its close (early closes, e.g. 13:00 New York on 2023-11-24,
  included; no bar on weekends or holidays), daily bars one per session at 00:00 UTC of
  its date. A year is then 252 sessions (365 on a calendar that trades every day, ``24/7``):
  ``dt`` is the bar's share of a typical session over that count (a minute of XNYS's
  6.5-hour session is ``1 / (252 * 390)``, of a 24/7 day ``1 / (365 * 1440)``), so
  ``vol`` keeps its annual meaning. The first bar of a session opens at the previous
  close (no overnight gap).
- **Returns.** The log return of bar *i* is ``(mu - vol**2 / 2) * dt + vol * sqrt(dt) * z``
  with ``z`` standard normal and ``dt = freq / 365 days``, so ``drift`` is the expected
  annual growth rate of the price.
- **OHLC.** ``open`` is exactly the previous ``close`` (no gaps: the market never closes);
  the first open is ``price``. ``high`` and ``low`` are drawn from the exact distribution of
  the maximum and minimum of a Brownian bridge between open and close, so
  ``high >= max(open, close)`` and ``low <= min(open, close)`` always, and the bar range
  scales with volatility as in real data. Prices stay positive.
- **Volume.** Positive, log-normal around ``volume`` per bar, higher on bars with large
  moves.
- **Regimes.** ``regimes="bull:0.3:0.15,bear:-0.4:0.35"`` (``name:drift:vol``) replaces
  ``drift``/``vol``: the series starts in the first regime and on each bar moves, with
  probability ``switch``, to another regime chosen uniformly. A ``regime`` column says
  which regime each bar was drawn in.
- **Universes.** ``symbols=N`` (with ``corr``, ``sectors``) gives N correlated symbols
  with sector factors: :mod:`workbench.data.synthetic_universe`.
- **Seeds.** The same arguments and ``seed`` give an identical frame; in a spec naming
  several symbols (``synthetic:A,B?seed=7``) the *i*-th symbol uses ``seed + i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.spec import SourceRequest
from workbench.errors import ConfigError, DataSourceError

YEAR = pd.Timedelta(days=365)
OPTIONS = (
    "bars", "freq", "seed", "start", "end", "session", "drift", "vol", "price", "regimes",
    "switch", "volume",
)  # fmt: skip
DEFAULT_START = "2024-01-01"


@dataclass(frozen=True)
class Regime:
    """A market state with its own annual drift and volatility."""

    name: str
    drift: float
    vol: float


def parse_regimes(text: str) -> tuple[Regime, ...]:
    """Read ``"bull:0.3:0.15,bear:-0.4:0.35"`` into regimes."""
    regimes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        fields = part.split(":")
        try:
            if len(fields) != 3 or not fields[0]:
                raise ValueError
            regimes.append(Regime(fields[0], float(fields[1]), float(fields[2])))
        except ValueError:
            raise ConfigError(
                f"regime {part!r} is not name:drift:vol",
                hint="e.g. regimes=bull:0.3:0.15,bear:-0.4:0.35 (annual drift and volatility)",
            ) from None
    if not regimes:
        raise ConfigError("regimes is empty", hint="e.g. regimes=bull:0.3:0.15,bear:-0.4:0.35")
    return tuple(regimes)


def synthetic_bars(
    n: int,
    freq: str = "1min",
    seed: int = 0,
    *,
    start: Any = DEFAULT_START,
    drift: float = 0.05,
    vol: float = 0.2,
    price: float = 100.0,
    regimes: str | Sequence[Regime] | None = None,
    switch: float = 0.01,
    volume: float = 10_000.0,
    symbol: str = "SYN",
    session: str | None = None,
    end: Any = None,
) -> pd.DataFrame:
    """``n`` bars of seeded geometric Brownian motion (see the module docstring).

    With ``session`` (a calendar code such as ``XNYS``) the bars are that calendar's
    session bars from ``start``, at most ``n`` of them and none after ``end``; without
    ``end``, ``n`` of them, or an error when the calendar (a year ahead) has fewer.
    """
    step = _interval(freq)
    if seed < 0:
        raise ConfigError(f"seed={seed} must be >= 0", hint="e.g. seed=7")
    if n < 1:
        raise ConfigError(f"bars={n}: need at least one bar", hint="e.g. bars=1000")
    if price <= 0 or volume <= 0 or vol < 0:
        raise ConfigError(
            f"price={price}, volume={volume}, vol={vol}: price and volume must be positive, "
            "vol non-negative",
            hint="e.g. price=100 volume=10000 vol=0.2",
        )
    if not 0.0 <= switch <= 1.0:
        raise ConfigError(f"switch={switch} is not a probability", hint="e.g. switch=0.01")
    states = parse_regimes(regimes) if isinstance(regimes, str) else tuple(regimes or ())
    first = pd.Timestamp(start)
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")

    dt = step / YEAR
    index: pd.DatetimeIndex | None = None
    if session:
        index, dt = _session_index(session, first, end, step)
        if len(index) == 0:
            raise ConfigError(
                f"no {session} session between {first.date()} and {end}",
                hint="widen start/end (weekends and holidays have no session)",
            )
        if end is None and len(index) < n:  # past the calendar's last session, a year ahead
            raise ConfigError(
                f"bars={n}: {session} has {len(index):,} {freq} bars from {first.date()} to its "
                f"last known session ({index[-1].date()})",
                hint=f"start earlier, ask for at most {len(index):,} bars, or give end=",
            )
        index = index[:n]
        n = len(index)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    u = 1.0 - rng.random((2, n))  # in (0, 1]: log(u) is finite
    noise = rng.standard_normal(n)
    if states:
        jumps = (rng.random(n) < switch) * rng.integers(1, max(len(states), 2), size=n)
        jumps[0] = 0
        state = np.cumsum(jumps) % len(states)
        mu = np.array([r.drift for r in states])[state]
        sigma = np.array([r.vol for r in states])[state]
    else:
        mu, sigma = np.full(n, drift), np.full(n, vol)

    var = sigma**2 * dt
    r = (mu - 0.5 * sigma**2) * dt + np.sqrt(var) * z
    close = price * np.exp(np.cumsum(r))
    open_ = np.empty(n)
    open_[0] = price
    open_[1:] = close[:-1]
    # Extremes of a Brownian bridge from 0 to r with variance var (exact marginals).
    up = 0.5 * (r + np.sqrt(r**2 - 2.0 * var * np.log(u[0])))
    down = 0.5 * (r - np.sqrt(r**2 - 2.0 * var * np.log(u[1])))
    high = np.maximum(open_ * np.exp(up), np.maximum(open_, close))
    low = np.minimum(open_ * np.exp(down), np.minimum(open_, close))
    size = volume * np.exp(0.4 * noise - 0.08) * (0.5 + 0.5 * np.abs(z) / np.sqrt(2 / np.pi))
    if index is None:
        index = pd.date_range(first, periods=n, freq=step, name="time")
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": np.maximum(1.0, np.round(size)),
        },
        index=index,
    )
    if states:
        names = pd.Categorical.from_codes(state, categories=[r.name for r in states])
        frame["regime"] = names
    frame.attrs = {"symbol": symbol}
    return frame


def _session_index(
    calendar: str, first: pd.Timestamp, end: Any, step: pd.Timedelta
) -> tuple[pd.DatetimeIndex, float]:
    """Bar starts inside ``calendar``'s sessions, and the bar's share of a year."""
    from workbench.data.sessions import session_year, sessions, sessions_per_year

    cal = sessions(calendar, first.normalize(), end)  # without end: to the calendar's last
    year = session_year(calendar, first)
    per_year = sessions_per_year(year)  # 252, 365 on a calendar that trades every day
    if step >= pd.Timedelta(days=1):
        return cal.dates, 1.0 / per_year
    index = cal.minutes(step)
    if end is not None:
        stop = pd.Timestamp(end)
        stop = stop.tz_localize("UTC") if stop.tzinfo is None else stop.tz_convert("UTC")
        if stop == stop.normalize():
            stop += pd.Timedelta(days=1) - pd.Timedelta(1, "ns")  # a date: the whole day
        index = index[index <= stop]
    index = index[index >= first]
    length = pd.Timedelta(int(np.median(year.closes - year.opens)), unit="ns")  # 6.5 h on XNYS
    return index, step / length / per_year


def _interval(freq: str) -> pd.Timedelta:
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (TypeError, ValueError):
        raise ConfigError(
            f"freq={freq!r} is not a fixed bar length",
            hint="use e.g. 1s, 1min, 5min, 1h, 1D",
        ) from None
    if step <= pd.Timedelta(0):
        raise ConfigError(f"freq={freq!r} must be positive", hint="e.g. freq=1min")
    return step


def load_synthetic(request: SourceRequest) -> dict[str, pd.DataFrame]:
    """Loader for ``synthetic:NAME[,NAME...]?bars=..&freq=..&seed=..[&session=XNYS&end=..]``.

    Without ``bars``, a ``start``/``end`` range given to ``load_bars`` sets the length;
    without ``start`` in the spec, ``load_bars``'s ``start`` (else 2024-01-01) is the first bar.
    With ``session``, every session bar from ``start`` to ``end`` (the spec's, else
    ``load_bars``'s; else ``bars`` of them).
    """
    if "symbols" in request.options:
        from workbench.data.synthetic_universe import load_universe

        return load_universe(request)
    request.check_options(OPTIONS)
    freq = request.text("freq", "1min") or "1min"
    start: Any = request.text("start") or request.start or DEFAULT_START
    n = request.integer("bars")
    session = request.text("session")
    end: Any = request.text("end") or request.end
    if session and n is None:
        n = 10**9 if end is not None else 1000
    elif "end" in request.options and n is None:
        raise DataSourceError(
            f"{request.spec}: end= in the spec needs session=",
            hint="give bars=N, or session=XNYS with start= and end=",
        )
    if n is None and request.start is not None and request.end is not None:
        first = pd.Timestamp(start)
        first = first.tz_localize("UTC") if first.tzinfo is None else first
        n = max(1, int((request.end - first) // _interval(freq)) + 1)
    regimes = request.text("regimes")
    if regimes and ("drift" in request.options or "vol" in request.options):
        raise DataSourceError(
            f"{request.spec}: give either drift/vol or regimes, not both",
            hint="each regime carries its own drift and vol: regimes=bull:0.3:0.15,bear:-0.4:0.35",
        )
    seed = request.integer("seed", 0) or 0
    out = {}
    for i, symbol in enumerate(request.symbols(default="SYN")):
        out[symbol] = synthetic_bars(
            n if n is not None else 1000,
            freq,
            seed + i,
            start=start,
            drift=request.number("drift", 0.05),
            vol=request.number("vol", 0.2),
            price=request.number("price", 100.0),
            regimes=regimes,
            switch=request.number("switch", 0.01),
            volume=request.number("volume", 10_000.0),
            symbol=symbol,
            session=session,
            end=end,
        )
    return out
