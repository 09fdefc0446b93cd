"""Live bars from Alpaca's market-data WebSocket, in the bundle's timeframe, as a Feed.

alpaca-py's ``StockDataStream`` runs in a background thread and reconnects by itself
(with backoff); ``data_timeout`` makes it reconnect when a connection goes silent.

Alpaca streams minute bars (``bars``), corrections of them (``updatedBars``) and daily
bars (``dailyBars``). Minute bars of several symbols with the same start time are
grouped (once every symbol has reported or a later bar shows the minute is over), then
a :class:`~workbench.data.aggregate.BarAggregator` makes them into bars of the run's
``timeframe`` on the exchange's sessions (the backtest's ``--timeframe`` resampling,
by construction); a bar is handed out only once its period is over, and bars outside
the regular session never are. A ``1Day`` feed also takes ``dailyBars`` (a venue that
streams daily bars only, as the emulator does for daily data): whichever of the two
gives a session first is handed out, the other is dropped. A correction on
``updatedBars`` replaces its minute in the period still open.

Alpaca emits a daily bar "right after each minute mark after the market opens", each
holding the session's trades so far: a ``dailyBars`` message is the day *until now*,
not the day. The feed keeps the latest one per day and symbol and hands the day out
only once its session is over: every symbol's bar came after its minute bar of the
session's last minute (emitted at the same mark, or a daily-only venue's bar after the
close on the venue's clock, ``market``: such a bar holds the whole session), or the close is
``settle`` seconds past on that clock, or the stream shows the day is over (a daily bar
of a later day, a minute bar at or after the close). Without a ``market`` clock only
the stream can tell: a day is handed out with the next day's first message (or the
first minute bar after its close), never on the machine's clock (a replay's days are
not today).

A period over on the venue's clock whose last minute bar has not come waits ``settle``
seconds for it (Alpaca publishes a minute's bar a moment after it ends). The feed also
watches the stream's connection (alpaca-py reconnects by itself): :meth:`lacks` says
which bars may lack minutes published while it was not listening (before it first
subscribed, between a drop and the reconnection, during a mute spell), and the catch-up
feed takes those over REST (:class:`~workbench.live.resilience.CatchUpFeed`).

:meth:`is_stale` says when no bar has arrived within the stream's bar interval (a
minute; a day for a daily bundle fed by ``dailyBars`` alone) plus a tolerance *while the
market is open* (``market``, a
:class:`~workbench.live.hours.MarketClock`): overnight, on weekends and on holidays
nothing is stale. The runner then blocks new entries and logs a staleness event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.broker import Bar
from workbench.brokers.alpaca_sdk import watch_connections
from workbench.brokers.streams import run_stream, stop_stream
from workbench.data.aggregate import BarAggregator
from workbench.data.sessions import DEFAULT_CALENDAR, period_end
from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.live.hours import MarketClock

log = logging.getLogger(__name__)

ONE_MINUTE = pd.Timedelta(minutes=1)
STALE_TOLERANCE = pd.Timedelta(seconds=30)
#: Seconds a period's last minute bar may come after the period ends (Alpaca publishes
#: a minute's bar, on the stream and over REST, a moment after the minute is over).
SETTLE_SECONDS = 5.0
_MINUTE_NS = ONE_MINUTE.value


class AlpacaBarFeed:
    """Closed ``timeframe`` bars for ``symbols``; iteration ends after ``idle_timeout``
    seconds without bars."""

    def __init__(
        self,
        symbols: Sequence[str],
        key: str,
        secret: str,
        *,
        url: str | None = None,
        feed: str = "iex",
        timeframe: Any = "1Min",
        session: str = "regular",
        calendar: str = DEFAULT_CALENDAR,
        market: MarketClock | None = None,
        interval: pd.Timedelta = ONE_MINUTE,
        tolerance: pd.Timedelta = STALE_TOLERANCE,
        idle_timeout: float | None = None,
        data_timeout: float | None = None,
        idle_ticks: bool = False,
        settle: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``interval`` is the stream's bar length (staleness); ``market`` the venue's
        clock (staleness only while open; periods closed on its time when a minute bar
        is missing). ``idle_ticks``: hand out an empty list every 0.2 s without a bar, so
        the consumer can look after the venue meanwhile (:meth:`connected`). ``settle``:
        seconds a period over on the venue's clock still waits for its last minute bar
        before it is closed without it (that minute may have had no trade)."""
        if not key or not secret:
            raise ConfigError(
                "Alpaca keys are missing",
                hint="set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment",
            )
        if not symbols:
            raise ConfigError("the Alpaca feed needs at least one symbol")
        self.symbols = [s.upper() for s in symbols]
        self._key, self._secret = key, secret
        self.url, self.feed = url, feed
        self.aggregator = BarAggregator(
            self.symbols, timeframe, source=ONE_MINUTE, session=session, calendar=calendar
        )
        self.timeframe = self.aggregator.timeframe
        #: The length of the bars handed out (the catch-up's gap threshold).
        self.interval = self.timeframe.length
        self.stream_interval, self.tolerance = interval, tolerance
        self.market = market
        self._open_since: float | None = None
        self._emitted = -1  # label (ns) of the last bar handed out
        self._minutes_seen = False  # a daily-only venue (dailyBars): staleness by the day
        self.idle_timeout = idle_timeout
        self.idle_ticks = idle_ticks
        self.data_timeout = data_timeout
        self._clock = clock
        self._queue: queue.Queue[tuple[str, Bar | None]] = queue.Queue()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.last_bar_at: float | None = None  # wall clock of the last bar received
        self._stale_logged = False
        if not settle >= 0:
            raise ConfigError(
                f"the bar settle time is seconds, 0 or more, got {settle}", hint="e.g. 5"
            )
        self.settle = float(settle)
        # per kind of period ("minutes", "days"): (its end, our clock when seen over)
        self._over_seen: dict[str, tuple[int, float]] = {}
        # Minutes the stream may have missed: (last minute before, first minute after),
        # ns, exclusive; None for "since ever" (before the first connection) and "not yet".
        self._last_minute: int | None = None
        self._holes: list[tuple[int | None, int]] = []
        self._open_hole: tuple[int | None] | None = None
        self._venue_day = -1  # label (ns) of the last bar handed out from dailyBars
        # The latest dailyBars message per day (label, ns) and symbol, the day not out yet,
        # and the symbols whose latest came once the session was over on the venue's clock.
        self._days: dict[int, dict[str, Bar]] = {}
        self._final: dict[int, set[str]] = {}
        self._last_minute_of: dict[str, int] = {}  # each symbol's latest minute bar (ns)

    def __repr__(self) -> str:  # never show the keys
        return (
            f"AlpacaBarFeed({self.symbols}, {self.timeframe}, feed={self.feed!r}, url={self.url!r})"
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        from alpaca.data.enums import DataFeed
        from alpaca.data.live import StockDataStream

        self._stream = StockDataStream(
            self._key,
            self._secret,
            feed=DataFeed(self.feed),
            url_override=self.url,
            data_timeout=self.data_timeout,
        )

        def handler(kind: str) -> Callable[[Any], Any]:
            async def on_bar(bar: Any) -> None:
                ts = pd.Timestamp(bar.timestamp)
                ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
                self._queue.put(
                    (kind, Bar(bar.symbol, ts, float(bar.open), float(bar.high),
                               float(bar.low), float(bar.close), float(bar.volume)))
                )  # fmt: skip

            return on_bar

        watch_connections(
            self._stream,
            on_subscribed=lambda: self._queue.put(("c", None)),
            on_closed=lambda: self._queue.put(("x", None)),
        )
        self._stream.subscribe_bars(handler("b"), *self.symbols)
        self._stream.subscribe_updated_bars(handler("u"), *self.symbols)
        if not self.timeframe.intraday:
            self._stream.subscribe_daily_bars(handler("d"), *self.symbols)
        self._thread = threading.Thread(target=self._run, name="alpaca-bars", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        run_stream(self._stream, log, "market-data stream")

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Wait until the stream has connected and sent its subscription (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if getattr(self._stream, "_running", False):
                return True
            time.sleep(0.02)
        return False

    def connected(self) -> bool:
        """Whether the stream is connected and subscribed now (alpaca-py reconnects it)."""
        return bool(getattr(self._stream, "_running", False))

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._stream is not None and self._thread is not None:
            stop_stream(self._stream, self._thread, timeout)
        self._thread = None

    def __iter__(self) -> Iterator[list[Bar]]:
        self.start()
        pending: dict[pd.Timestamp, dict[str, Bar]] = {}
        idle_since = self._clock()
        while not self._stopped.is_set():
            try:
                kind, bar = self._queue.get(timeout=0.2)
            except queue.Empty:
                stale = self.is_stale(pd.Timestamp(self._clock(), unit="s", tz="UTC"))
                if stale:  # a mute stream may be missing minutes as a dropped one
                    self._hole_opens()
                if pending and stale:  # a symbol never reported: go on
                    yield from self._aggregate(self._flush(pending, None))
                if self.market is not None:
                    now = self._market_now()
                    yield from self._days_due(now)  # the venue's own before the minutes'
                    yield from self._fresh(self._due(now))
                if self.idle_timeout is not None and self._clock() - idle_since > self.idle_timeout:
                    return
                if self.idle_ticks:
                    yield []
                continue
            if bar is None:  # the stream (re)subscribed ("c") or its connection closed ("x")
                self._hole_opens()
                continue
            idle_since = self.last_bar_at = self._clock()
            self._stale_logged = False
            if kind == "u":
                if not self.aggregator.correct(bar):
                    log.info(
                        "correction of %s %s after its period closed: ignored",
                        bar.symbol, bar.time, extra={"event": "bar_correction_late"},
                    )  # fmt: skip
            elif kind == "d":
                yield from self._daily_bar(self.aggregator.daily(bar))
            else:
                self._minutes_seen = True
                self._minute_seen(bar.time.value)
                last = self._last_minute_of.get(bar.symbol, -1)
                self._last_minute_of[bar.symbol] = max(last, bar.time.value)
                yield from self._release(self._ended_by(bar.time.value))  # a minute after a close
                pending.setdefault(bar.time, {})[bar.symbol] = bar
                yield from self._aggregate(self._flush(pending, bar.time))

    # -- the venue's daily bars (dailyBars) ---------------------------------------------
    def _daily_bar(self, day: Bar) -> Iterator[list[Bar]]:
        """Keep ``day`` (the session so far) in place of the one before; hand out the days
        it shows are over, and its own once every symbol's came after the close."""
        t = day.time.value
        if t <= self._emitted:  # that day is out (a later update of it): nothing to do
            return
        yield from self._release(lambda day: day < t)  # a later day: those are over
        self._days.setdefault(t, {})[day.symbol] = day
        final = self._final.setdefault(t, set())
        final.discard(day.symbol)
        end = self._period_end(day.time)
        if self._minutes_seen:  # whole if it came after the session's last minute bar (a
            # clock read now may be past the close while older bars still wait in the queue)
            if self._last_minute_of.get(day.symbol, -1) + _MINUTE_NS < end:
                return
        elif self.market is None or self._day_now().value < end:
            return  # a daily-only venue's bar sent after the close is the day
        final.add(day.symbol)
        if len(final) == len(self.symbols):
            yield from self._release(lambda day: day <= t)

    def _day_now(self) -> pd.Timestamp:
        """The venue's time for a daily bar that came: a venue streaming daily bars only
        sends one a day, so its clock is asked afresh (``fresh_now``, if it has one; a
        kept answer from before the day's end would hold the day until it expires);
        with minutes flowing, the kept answer (asking afresh each minute would cost a
        request per symbol and minute)."""
        fresh = None if self._minutes_seen else getattr(self.market, "fresh_now", None)
        if fresh is None:
            return self._market_now()
        try:
            return fresh()
        except Exception:  # the clock is only a help here: never stop the feed
            return pd.Timestamp(0, tz="UTC")

    def _days_due(self, now: pd.Timestamp) -> Iterator[list[Bar]]:
        """Kept days whose session is over on the venue's clock and settled: the bar
        emitted at the close comes a moment after it, so a day waits ``settle`` seconds
        for it (of the venue's time, or of ours when its clock stands still), as
        :meth:`_due` waits for a period's last minute."""
        if not self._days:
            return
        end = self._period_end(pd.Timestamp(min(self._days), tz="UTC"))
        if now.value < end:
            return
        if self._settled("days", end, now):
            yield from self._release(self._ended_by(now.value))

    def _ended_by(self, t: int) -> Callable[[int], bool]:
        """Whether a day (label, ns) has ended by ``t`` (ns): its session is closed."""
        return lambda day: self._period_end(pd.Timestamp(day, tz="UTC")) <= t

    def _release(self, over: Callable[[int], bool]) -> Iterator[list[Bar]]:
        """Hand out the kept days that are ``over`` (their latest bars: the whole day), in
        order; ``over`` holds for a day only if it holds for every day before it."""
        for t in sorted(self._days):
            if not over(t):
                return
            group = self._days.pop(t)
            self._final.pop(t, None)
            for bars in self._fresh([[group[s] for s in self.symbols if s in group]]):
                self._venue_day = t  # the venue's own: whole
                yield bars

    # -- minutes the stream may have missed ---------------------------------------------
    def _hole_opens(self) -> None:
        """The stream may miss minutes from now on (dropped, reconnected, mute) until the
        next minute bar comes."""
        if self._open_hole is None:
            self._open_hole = (self._last_minute,)

    def _minute_seen(self, t: int) -> None:
        if self._open_hole is not None:
            self._holes = [*self._holes[-15:], (self._open_hole[0], t)]
            self._open_hole = None
        self._last_minute = t if self._last_minute is None else max(self._last_minute, t)

    def lacks(self, label: pd.Timestamp) -> bool:
        """Whether the bar labelled ``label`` may lack minutes the stream did not deliver:
        its period overlaps minutes between a connection's last bar and the next one's
        first (a drop and reconnect, a mute spell), or those before the first connection.
        Such a bar must be taken over REST once its period is over. A daily bar the venue
        streamed on ``dailyBars`` is its own, whole whatever minutes were missed."""
        if label.value == self._venue_day:
            return False
        end = self._period_end(label)
        lo_period, hi_period = label.value, end - _MINUTE_NS  # the period's minute starts
        holes: list[tuple[int | None, int | None]] = list(self._holes)
        if self._open_hole is not None:
            holes.append((self._open_hole[0], None))
        for before, after in holes:
            lo = lo_period if before is None else max(lo_period, before + _MINUTE_NS)
            hi = hi_period if after is None else min(hi_period, after - _MINUTE_NS)
            if lo <= hi:
                return True
        return False

    def _period_end(self, label: pd.Timestamp) -> int:
        agg = self.aggregator
        end = period_end(label, self.timeframe, session=agg.session, calendar=agg.calendar)
        return (label + self.timeframe.length).value if end is None else end.value

    def _due(self, now: pd.Timestamp) -> list[list[Bar]]:
        """The open period's bars once it is over on the venue's clock and settled: its
        last minute bar may come a moment after its end, so a period without it waits
        ``settle`` seconds (of the venue's time, or of ours when its clock stands still,
        as a replay's does between bars) before it is closed without it."""
        end = self.aggregator.open_end
        if end is None or now.value < end:
            return []
        if not self._settled("minutes", end, now):
            return []
        return self.aggregator.due(now)

    def _settled(self, kind: str, end: int, now: pd.Timestamp) -> bool:
        """Whether ``settle`` seconds have passed since ``end`` (ns), a period of ``kind``
        over on the venue's clock ``now``: of the venue's time, or of ours since we first saw
        it over (a replay's clock stands still between bars)."""
        seen = self._over_seen.get(kind)
        if seen is None or seen[0] != end:
            seen = self._over_seen[kind] = (end, self._clock())
        waited = max((now.value - end) / 1e9, self._clock() - seen[1])
        return waited >= self.settle

    def _aggregate(self, groups: Iterator[list[Bar]]) -> Iterator[list[Bar]]:
        for group in groups:
            yield from self._fresh(self.aggregator.add(group))

    def _fresh(self, groups: Iterable[list[Bar]]) -> Iterator[list[Bar]]:
        """Each period once, in order (minute aggregates and daily bars may both give it)."""
        for group in groups:
            t = group[0].time.value
            if t > self._emitted:
                self._emitted = t
                yield group

    def _market_now(self) -> pd.Timestamp:
        assert self.market is not None
        try:
            return self.market.now()
        except Exception:  # the clock is only a help here: never stop the feed
            return pd.Timestamp(0, tz="UTC")

    def _flush(self, pending: dict[pd.Timestamp, dict[str, Bar]], newest: pd.Timestamp | None):
        for t in sorted(pending):
            group = pending[t]
            complete = len(group) == len(self.symbols)
            if newest is None or complete or t < newest:
                del pending[t]
                yield [group[s] for s in self.symbols if s in group]
            else:
                break

    def is_stale(self, now: pd.Timestamp) -> bool:
        """No bar within ``interval + tolerance`` of the last one (or of the open), while
        the market is open."""
        last = self.last_bar_at
        if self.market is not None:
            try:
                open_ = self.market.is_open()
            except Exception:
                open_ = True  # cannot tell: judge by the bars
            if not open_:
                self._open_since = None
                self._stale_logged = False
                return False
            if self._open_since is None:
                self._open_since = now.timestamp()
            last = max(last or 0.0, self._open_since)
        if last is None:
            return False
        waited = now.timestamp() - last
        daily_only = not self.timeframe.intraday and not self._minutes_seen
        expected = self.interval if daily_only else self.stream_interval
        late = waited > (expected + self.tolerance).total_seconds()
        if late and not self._stale_logged:
            self._stale_logged = True
            log.warning(
                "feed is stale: no bar for %.0f s while the market is open",
                waited,
                extra={"event": "feed_stale", "reason": "no bar within interval + tolerance"},
            )
        return late
