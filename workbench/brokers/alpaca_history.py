"""Alpaca's REST bars as the history of a :class:`~workbench.live.resilience.CatchUpFeed`.

Alpaca's market-data stream does not replay what a client missed; the catch-up feed asks
this for the bars published while the runner was down, in the run's timeframe, as the
live feed makes them. Alpaca-specific, so it lives here and not in ``live/``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import requests

from workbench.broker import Bar
from workbench.brokers.alpaca_feed import ONE_MINUTE, SETTLE_SECONDS
from workbench.errors import ConfigError, TransientBrokerError

log = logging.getLogger(__name__)


def alpaca_history(
    key: str,
    secret: str,
    *,
    url: str | None,
    timeframe: Any,
    session: str = "regular",
    calendar: str = "XNYS",
    now: Callable[[], pd.Timestamp] | None = None,
    feed: str = "iex",
    timeout: float = 10.0,
    settle: float = SETTLE_SECONDS,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    wall: Callable[[], float] = time.monotonic,
) -> Callable[[list[str], pd.Timestamp | None], list[Bar]]:
    """The ``history`` of a :class:`CatchUpFeed` on Alpaca's REST bars (``url``: its base),
    in the run's ``timeframe``, as the live feed makes them.

    ``1Day`` asks for Alpaca's daily bars (relabelled 00:00 UTC of the session date);
    intraday timeframes ask for minute bars and make them into the timeframe with the
    feed's own :func:`~workbench.data.sessions.session_resample` (Alpaca's own hourly
    bars would mix in the pre-market: its 09:00 bar starts at 09:00). A period not over
    at ``now()`` (the venue's time, asked before the bars) is left to the stream: Alpaca
    serves the minutes of the current hour or day too, and a bar made of them would
    reach the strategy before its period is over, missing its last minutes.

    Alpaca publishes a minute's bar a moment after the minute is over, so a period just
    over may not have its last minute over REST yet: while a symbol lacks it, the bars are
    asked again every ``poll`` seconds until it comes, for at most ``settle`` seconds past
    the period's end (of the venue's time, or of waiting here when its clock stands still,
    as a replay's does between bars). A minute still absent then had no trade (Alpaca
    makes no bar of a minute without one): the period is made without it, and logged.
    """
    from alpaca.common.enums import Sort
    from alpaca.common.exceptions import APIError
    from alpaca.data.enums import DataFeed
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    from workbench.brokers.alpaca_errors import _map_api_error
    from workbench.brokers.alpaca_sdk import tune_client
    from workbench.data.aggregate import BarAggregator
    from workbench.data.sessions import period_end, periods, sessions
    from workbench.timeframe import parse_timeframe

    tf = parse_timeframe(timeframe)
    client = StockHistoricalDataClient(key, secret, url_override=url)
    tune_client(client, timeout)  # retries are the caller's job
    unit = TimeFrame(1, TimeFrameUnit.Minute if tf.intraday else TimeFrameUnit.Day)
    epoch = pd.Timestamp("1970-01-01", tz="UTC").to_pydatetime()

    def request(symbols: list[str], **kw: Any) -> list[Bar]:
        req = StockBarsRequest(symbol_or_symbols=symbols, timeframe=unit, feed=DataFeed(feed), **kw)
        try:
            data = client.get_stock_bars(req).data
        except APIError as exc:
            if getattr(exc, "status_code", None) == 422:  # the venue cannot give these bars
                raise ConfigError(
                    f"the venue does not serve {unit.value} bars of {', '.join(symbols)}, which "
                    f"the bundle's {tf.name} bars are made of ({_api_message(exc)})",
                    hint="stream minute bars to the runner (as Alpaca does), or promote the "
                    "strategy on the timeframe the venue serves",
                ) from None
            raise _map_api_error("get bars", exc) from None
        except (
            requests.Timeout,
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,  # the answer broke off midway
        ) as exc:
            raise TransientBrokerError(f"get bars: no answer ({type(exc).__name__})") from None
        return [
            Bar(sym, _utc(b.timestamp), float(b.open), float(b.high), float(b.low),
                float(b.close), float(b.volume))
            for sym, rows in data.items() for b in rows
        ]  # fmt: skip

    def in_timeframe(
        symbols: list[str], bars: list[Bar], *, partial: bool, asked: pd.Timestamp | None = None
    ) -> list[Bar]:
        """``bars`` made into the run's bars; without ``partial``, only periods over at
        ``asked`` (the venue's time *before* the bars were asked for)."""
        agg = BarAggregator(symbols, tf, session=session, calendar=calendar,
                            source=pd.Timedelta(minutes=1 if tf.intraday else 60 * 24))  # fmt: skip
        steps: dict[pd.Timestamp, list[Bar]] = {}
        for bar in sorted(bars, key=lambda b: b.time):
            steps.setdefault(bar.time, []).append(bar)
        out = [b for t in sorted(steps) for g in agg.add(steps[t]) for b in g]
        if partial:
            return out + [b for g in agg.flush() for b in g]
        if asked is None:
            return out
        out += [b for g in agg.due(asked) for b in g]
        return [b for b in out if over_by(b.time) <= asked]

    def over_by(label: pd.Timestamp) -> pd.Timestamp:
        return period_end(label, tf, session=session, calendar=calendar) or label

    def history(symbols: list[str], after: pd.Timestamp | None) -> list[Bar]:
        if after is None:  # the latest bar of each symbol, even of a period not over
            out: list[Bar] = []
            for sym in symbols:
                latest = request([sym], start=epoch, limit=1, sort=Sort.DESC)
                made = in_timeframe([sym], latest, partial=True)
                if latest and not made:  # a minute outside the sessions makes no bar
                    made = in_timeframe([sym], last_in_session(sym, latest[0].time), partial=True)
                out += made
            return out
        start = max(after + pd.Timedelta(1, "us"), pd.Timestamp(epoch)).floor("us")
        # The venue's time is asked first: every minute of a period over by then is in
        # the answer. Asked after, the clock may have moved past a period's end while
        # the answer holds only its first minutes, and that partial bar would be handed
        # out (and the stream's whole bar dropped as a duplicate).
        asked = None if now is None else now()
        bars = request(symbols, start=start.to_pydatetime())
        began = wall()
        while asked is not None:
            late = unsettled(symbols, bars, after, asked)
            if late is None:
                break
            waited = max((asked - late[0]).total_seconds(), wall() - began)
            if waited >= settle:
                log.info(
                    "no %s bar of %s after %.1f s: the period ending then is made without "
                    "it (no trade in that minute)", late[0] - ONE_MINUTE, ", ".join(late[1]),
                    waited, extra={"event": "bar_minute_absent"},
                )  # fmt: skip
                break
            sleep(poll)
            bars = request(symbols, start=start.to_pydatetime())
        return in_timeframe(symbols, bars, partial=False, asked=asked)

    def last_in_session(sym: str, t: pd.Timestamp) -> list[Bar]:
        """``sym``'s last minute of a session up to ``t``: after the close, before the
        open or on a weekend Alpaca's latest minute is one of the extended hours, which
        says nothing of the run's bars (without one, everything would be "missed")."""
        close = sessions(calendar).last_close(t)
        if close is None:
            return []
        end = (close - pd.Timedelta(seconds=1)).to_pydatetime()
        return request([sym], start=epoch, end=end, limit=1, sort=Sort.DESC)

    def unsettled(
        symbols: list[str], bars: list[Bar], after: pd.Timestamp, asked: pd.Timestamp
    ) -> tuple[pd.Timestamp, list[str]] | None:
        """``(end, symbols)`` of the period over at ``asked`` whose last minute those
        symbols lack, while it may still come (``settle`` past the end); else None."""
        if not tf.intraday:
            return None
        p = periods(pd.DatetimeIndex([asked - ONE_MINUTE]), tf, session=session,
                    calendar=calendar)  # fmt: skip
        label, end = int(p.labels[0]), int(p.ends[0])
        if label < 0 or label <= after.value or end > asked.value:
            return None
        if asked.value - end >= settle * 1e9:
            return None
        last = end - ONE_MINUTE.value
        have = {b.symbol for b in bars if b.time.value == last}
        lacking = [sym for sym in symbols if sym not in have]
        return (pd.Timestamp(end, tz="UTC"), lacking) if lacking else None

    return history


def _api_message(exc: Any) -> str:
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError, AttributeError):
        return str(exc)[:200]


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
