"""What keeps a live run whole through broker trouble and restarts.

- :class:`RetryingReads`: the broker with its reads (account, positions, order
  lookups) retried on temporary errors; submissions and cancels are left to the
  execution engine, which looks an order up by client order id before resending it.
- :class:`CatchUpFeed`: Alpaca's market-data stream does not replay what a client
  missed, so a runner that was down (killed, restarted by systemd) would lose the
  bars published meanwhile, and their decisions. This feed starts the stream, waits
  until it has subscribed, then fetches every bar after the last one the state file
  holds over REST and hands those out first, then the stream's bars, each once. On
  the very first start the run begins after the latest bar published at that moment
  (of the run's bars: started in the pre- or post-market or on a weekend, after the
  last session's last bar).
  A stream bar is taken over REST instead when the stream may have missed some of its
  minutes: its period began before the stream's first minute (a restart inside an
  hour), or the stream dropped and reconnected, or went mute, inside it (the live
  feed's ``lacks``). A period not over at the venue's time is never taken from REST.
  While running, a bar that comes more than one interval after the previous one (the
  stream dropped and reconnected) first has the bars in between fetched the same way.
  The empty lists a live feed hands out while it waits for a bar are passed on (the
  runner looks after the venue meanwhile); with ``on_outage`` set (the runner's
  :class:`~workbench.live.outage.VenueGuard`) a fetch that fails because the venue is
  down waits for it instead of leaving the bars out.
"""

from __future__ import annotations

import logging
import random
import time as _time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pandas as pd

from workbench.broker import AccountSnapshot, Bar, Broker, OrderUpdate
from workbench.errors import BrokerError, TransientBrokerError, VenueOutageTooLong
from workbench.execution.config import RetryPolicy
from workbench.live.state import StateStore
from workbench.orders import Order, OrderRequest
from workbench.portfolio import PositionView

log = logging.getLogger(__name__)
T = TypeVar("T")
#: How long the catch-up waits for the stream to subscribe before fetching bars.
SUBSCRIBE_TIMEOUT = 15.0


def through_outages(
    fn: Callable[[], T], on_outage: Callable[[TransientBrokerError], None] | None
) -> T:
    """``fn()``; when it fails with a temporary error, ``on_outage(error)`` (which waits
    until the venue answers, or raises) and ``fn()`` again. Without ``on_outage`` the
    error is raised."""
    while True:
        try:
            return fn()
        except TransientBrokerError as exc:
            if on_outage is None:
                raise
            on_outage(exc)


class RetryingReads:
    """``broker`` with its reads retried on temporary errors (429, 5xx, timeouts).

    Reads are idempotent, so retrying them is always safe; a runner that crashed on a
    rate-limited ``get_account`` would only restart into the same storm. Submissions
    and cancels pass through unchanged: the execution engine retries those itself,
    looking an order up by client order id before sending it again.
    """

    def __init__(
        self,
        broker: Broker,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], None] = _time.sleep,
    ) -> None:
        self.inner = broker
        self.retry = retry
        self._sleep = sleep
        self._rng = random.Random()

    #: Called with the error when a read still fails after its retries, or a submission
    #: fails while the venue does not answer: blocks until the venue answers again and
    #: the runner has reconciled (:class:`~workbench.live.outage.VenueGuard`), or raises.
    #: None: the error is raised as it is.
    on_outage: Callable[[TransientBrokerError], None] | None = None

    def _read(self, fn: Callable[[], T]) -> T:
        return through_outages(lambda: self._retried(fn), self.on_outage)

    def _retried(self, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return fn()
            except TransientBrokerError as exc:
                if attempt == self.retry.max_attempts:
                    raise
                self._sleep(self.retry.delay(attempt, self._rng, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def answers(self) -> bool:
        """Whether the venue answers a cheap read now (no retries)."""
        try:
            self.inner.get_account()
        except TransientBrokerError:
            return False
        return True

    def get_account(self) -> AccountSnapshot:
        return self._read(self.inner.get_account)

    def get_positions(self) -> dict[str, PositionView]:
        return self._read(self.inner.get_positions)

    def get_open_orders(self) -> list[Order]:
        return self._read(self.inner.get_open_orders)

    def get_order(self, order_id: str) -> Order:
        return self._read(lambda: self.inner.get_order(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        return self._read(lambda: self.inner.get_order_by_client_id(client_order_id))

    def submit_order(self, request: OrderRequest) -> Order:
        """Submit; when it fails because the venue is down, wait through the outage, then
        send it only if the venue does not have it already (looked up by client order id).
        Any other failure goes to the execution engine, which retries it itself."""
        while True:
            try:
                return self.inner.submit_order(request)
            except TransientBrokerError as exc:
                if self.on_outage is None or request.client_order_id is None or self.answers():
                    raise
                self.on_outage(exc)
            found = self.get_order_by_client_id(request.client_order_id)
            if found is not None:
                return found

    def cancel_order(self, order_id: str) -> None:
        """Cancel; through an outage as :meth:`submit_order` (a second cancel is harmless)."""
        while True:
            try:
                return self.inner.cancel_order(order_id)
            except TransientBrokerError as exc:
                if self.on_outage is None or self.answers():
                    raise
                self.on_outage(exc)

    def cancel_all_orders(self) -> None:
        self.inner.cancel_all_orders()

    def drain_updates(self) -> list[OrderUpdate]:
        return self.inner.drain_updates()

    def close(self) -> None:
        self.inner.close()


class CatchUpFeed:
    """``live`` (an :class:`~workbench.brokers.alpaca_feed.AlpacaBarFeed`) without gaps.

    ``history(symbols, after)`` returns the published bars after time ``after`` (a
    UTC timestamp, or None for the latest bar of each symbol only); ``build_runner``
    gives it Alpaca's REST bars endpoint through alpaca-py.
    """

    def __init__(
        self,
        live: Any,
        state: StateStore,
        symbols: Sequence[str],
        history: Callable[[list[str], pd.Timestamp | None], list[Bar]],
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = _time.sleep,
    ) -> None:
        self.live = live
        self.state = state
        self.symbols = list(symbols)
        self.history = history
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random()
        self.on_outage: Callable[[TransientBrokerError], None] | None = None

    def _fetch(self, after: pd.Timestamp | None) -> list[Bar]:
        return through_outages(lambda: self._fetch_retried(after), self.on_outage)

    def _fetch_retried(self, after: pd.Timestamp | None) -> list[Bar]:
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return self.history(self.symbols, after)
            except BrokerError as exc:
                if attempt == self.retry.max_attempts or not isinstance(exc, TransientBrokerError):
                    raise
                self._sleep(self.retry.delay(attempt, self._rng, getattr(exc, "retry_after", None)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_after(self) -> int:
        """Bars after this time (ns) are new to the run."""
        last = self.state.last_bar_ns()
        mark = self.state.get_meta("feed_after_ns")
        if mark is None:
            if last is None:  # the first start: begin after what is published now
                latest = self._fetch(None)
                mark = str(max((b.time.value for b in latest), default=-1))
            else:  # a state file from before this mark existed
                mark = str(last)
            self.state.set_meta(feed_after_ns=mark)
        return max(int(mark), -1 if last is None else last)

    def _guarded(self, fn: Callable[[], T]) -> T | None:
        """``fn()``, or None when the venue cannot say (then the run goes on without)."""
        try:
            return fn()
        except VenueOutageTooLong:
            raise
        except BrokerError as exc:  # e.g. a timeframe the venue does not serve
            log.error("cannot catch up on missed bars: %s", exc,
                      extra={"event": "catch_up_failed", "reason": str(exc)})  # fmt: skip
            return None

    def __iter__(self) -> Iterator[list[Bar]]:
        after = self._guarded(self._start_after)  # fixed before the stream delivers anything
        self.live.start()
        if not self.live.wait_subscribed(SUBSCRIBE_TIMEOUT):
            log.warning(
                "the market-data stream has not subscribed after %.0f s; catching up anyway",
                SUBSCRIBE_TIMEOUT,
                extra={"event": "feed_not_subscribed"},
            )
        missed: list[Bar] = []
        if after is not None:
            missed = self._guarded(lambda: self._fetch(pd.Timestamp(after, tz="UTC"))) or []
        else:
            last_ns = self.state.last_bar_ns()
            after = -1 if last_ns is None else last_ns
        groups = self._groups(missed, after)
        if groups:
            log.warning(
                "catching up %d bar time(s) missed while the runner was down",
                len(groups),
                extra={"event": "catch_up"},
            )
        last = after
        for group in groups:
            last = group[0].time.value
            yield group
        step = getattr(self.live, "interval", None)
        gap = None if step is None else pd.Timedelta(step).value
        for group in self.live:
            if not group:
                yield group  # waiting for a bar
                continue
            if group[0].time.value <= last:
                continue
            group = self._whole(group)
            now = group[0].time.value
            if gap is not None and last >= 0 and now - last > gap:
                # a hole in the stream (a dropped connection): fetch what it missed
                since = pd.Timestamp(last, tz="UTC")
                holes = self._guarded(lambda since=since: self._fetch(since)) or []
                filled = self._groups(holes, last, before=now)
                if filled:
                    log.warning(
                        "catching up %d bar time(s) the stream missed before %s",
                        len(filled),
                        group[0].time,
                        extra={"event": "catch_up"},
                    )
                yield from filled
            last = now
            yield group

    def _whole(self, group: list[Bar]) -> list[Bar]:
        """The stream's bar, or the same period's over REST when the stream may have
        missed some of its minutes (``live.lacks``): those before the stream first
        subscribed (a restart inside an hour), or those published while it was dropped,
        reconnecting or mute. Its period is over by now, so REST holds all its minutes
        (the history waits for the last one to be published)."""
        lacks = getattr(self.live, "lacks", None)
        t = group[0].time
        if lacks is None or not lacks(t):
            return group
        fetched = self._guarded(lambda: self._fetch(t - pd.Timedelta(1, "ns"))) or []
        whole = self._groups(fetched, t.value - 1, before=t.value + 1)
        if not whole:  # the venue cannot say: the stream's bar is all there is
            log.error(
                "the %s bar may lack minutes the stream missed, and the venue cannot give "
                "it over REST: decided on the stream's bar", t,
                extra={"event": "bar_partial", "reason": "stream missed minutes"},
            )  # fmt: skip
            return group
        log.warning(
            "the %s bar may lack minutes the stream missed (it subscribed, reconnected or "
            "was mute inside its period): taken over REST", t,
            extra={"event": "catch_up"},
        )  # fmt: skip
        return whole[0]

    def _groups(self, bars: list[Bar], after: int, before: int | None = None) -> list[list[Bar]]:
        """``bars`` after ``after`` (and before ``before``), one list per bar time, in order."""
        groups: dict[int, list[Bar]] = {}
        order = {s: i for i, s in enumerate(self.symbols)}
        for bar in sorted(bars, key=lambda b: (b.time.value, order.get(b.symbol, len(order)))):
            t = bar.time.value
            if t > after and (before is None or t < before):
                groups.setdefault(t, []).append(bar)
        return [groups[t] for t in sorted(groups)]

    def is_stale(self, now: pd.Timestamp) -> bool:
        return self.live.is_stale(now)

    def connected(self) -> bool:
        """Whether the live stream is connected (True for one that cannot say)."""
        connected = getattr(self.live, "connected", None)
        return bool(connected()) if callable(connected) else True

    def stop(self) -> None:
        self.live.stop()
