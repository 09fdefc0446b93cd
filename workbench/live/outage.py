"""Staying up through a venue outage: degraded, waiting, reconciled, trading again.

Alpaca has had outages of tens of minutes (every REST call failing, the streams
dropped and refused). A runner that stopped at the first failed read would, under
systemd, restart in a loop for as long as the outage lasts. Instead, when a request
to the venue still fails after its ordinary retries with a temporary error (5xx, 429,
a timeout, a refused or reset connection), or the market-data stream stays down and
the venue does not answer, :class:`VenueGuard` takes over:

1. the run is marked ``degraded`` (state file, so ``live status`` and the dashboard
   show it) and ``outage_started`` is logged (and so notified);
2. the venue is probed (an account read) with capped, jittered exponential backoff:
   ``base_delay * 2**(n-1)`` seconds, at most ``max_delay`` (60 s by default), times
   1 ± ``jitter``. No order is sent meanwhile: the runner is blocked in the request
   that failed;
3. once the venue answers, the runner reconciles before anything else: every order the
   state thinks open and every order of an unfinished plan is looked up by client order
   id (an order sent just before the outage may have filled: its fills are recorded, it
   is never sent again; one that ended meanwhile, its stream update lost, is followed
   by the execution engine as that update at the next bar: the orders it held for it go
   out), and the venue's positions are compared with the recorded fills. Then
   ``outage_ended`` is logged (notified), the status is ``running`` again and the
   failed request is made again. Bars published meanwhile are fetched over REST by
   the feed's catch-up when the stream is back, and decided in order.

An outage longer than ``max_outage`` (an hour by default) stops the runner with
:class:`~workbench.errors.VenueOutageTooLong` (exit code 5, which systemd restarts).
Errors that are not temporary (refused keys, a rejected order, configuration) never
come here: they stop the runner with their own exit codes, as before.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from workbench.errors import ConfigError, TransientBrokerError, VenueOutageTooLong
from workbench.live.state import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutagePolicy:
    """How long and how often the runner waits for a venue that does not answer.

    ``base_delay`` / ``max_delay``: the first and the largest wait between probes (s);
    ``jitter``: each wait is scaled by 1 ± this (so many runners do not probe in step);
    ``max_outage``: after this many seconds down the runner stops (exit code 5);
    ``stream_grace``: the market-data stream down this long while waiting for a bar
    makes the runner probe the venue (a dropped stream alone is only a reconnect).
    """

    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.25
    max_outage: float = 3600.0
    stream_grace: float = 10.0

    def __post_init__(self) -> None:
        if not (0 < self.base_delay <= self.max_delay):
            raise ConfigError(
                f"outage backoff needs 0 < base delay <= cap, got {self.base_delay} and "
                f"{self.max_delay}",
                hint="e.g. --outage-backoff-cap 60",
            )
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"outage jitter must be in [0, 1), got {self.jitter}")
        if not self.max_outage > 0 or not self.stream_grace >= 0:
            raise ConfigError(
                "the maximum outage must be positive and the stream grace not negative",
                hint="e.g. --max-outage 3600",
            )

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before probe ``attempt`` (1-based): capped, then jittered."""
        backoff = min(self.base_delay * 2.0 ** min(attempt - 1, 60), self.max_delay)
        return backoff * (1 + self.jitter * (2 * rng.random() - 1))


class StopDuringOutage(Exception):
    """The runner was asked to stop while it waited for the venue."""


class VenueGuard:
    """Waits through an outage (see the module docstring) for one runner.

    ``probe()`` asks the venue something cheap and raises a temporary error while it is
    down; ``reconcile()`` runs once it answers, before :meth:`wait` returns (a temporary
    error in it counts as the venue still down). ``stop`` ends the wait early. ``alive()``
    runs after each probe (the runner's heartbeat and systemd watchdog: waiting for the
    venue is not a hang).
    """

    def __init__(
        self,
        probe: Callable[[], object],
        reconcile: Callable[[], None],
        state: StateStore,
        policy: OutagePolicy | None = None,
        *,
        strategy: str = "",
        stop: threading.Event | None = None,
        alive: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.probe = probe
        self.reconcile = reconcile
        self.state = state
        self.policy = policy or OutagePolicy()
        self.strategy = strategy
        self._stop = stop or threading.Event()
        self._alive = alive
        self._clock = clock
        self._rng = rng or random.Random()
        self._waiting = False
        self._stream_down_since: float | None = None
        self._probed_at = -float("inf")
        self.outages = 0
        #: The waits between probes of the last outage (what the backoff did).
        self.waits: list[float] = []

    @property
    def degraded(self) -> bool:
        return self._waiting

    def idle(self, connected: Callable[[], bool] | None) -> None:
        """While no bar comes: a market-data stream down (``connected()`` false) for longer
        than the policy's grace makes the guard ask the venue (at most once per grace); a
        venue that does not answer is an outage (:meth:`wait`). A stream that cannot say
        (None) is left alone."""
        if connected is None:
            return
        now = self._clock()
        if connected():
            self._stream_down_since = None
            return
        if self._stream_down_since is None:
            self._stream_down_since = now
        grace = self.policy.stream_grace
        if now - self._stream_down_since < grace or now - self._probed_at < grace:
            return
        self._probed_at = now
        try:
            self.probe()
        except TransientBrokerError as exc:
            self.wait(exc)

    def wait(self, cause: TransientBrokerError) -> None:
        """Block until the venue answers and the runner has reconciled.

        Raises ``cause`` again when called from inside the reconciliation (the venue
        went down again: the outer wait goes on), :class:`VenueOutageTooLong` past the
        policy's maximum and :class:`StopDuringOutage` when the runner is stopped.
        """
        if self._waiting:
            raise cause
        self._waiting = True
        try:
            self._wait(cause)
        finally:
            self._waiting = False

    def _wait(self, cause: TransientBrokerError) -> None:
        policy = self.policy
        began, since = self._clock(), pd.Timestamp.now(tz="UTC")
        self.outages += 1
        self.waits = []
        log.warning(
            "venue outage: %s; no order goes out until it answers (probing with backoff "
            "up to %g s, for at most %g s)", cause, policy.max_delay, policy.max_outage,
            extra={"event": "outage_started", "strategy": self.strategy, "reason": str(cause)},
        )  # fmt: skip
        self.state.set_meta(status="degraded", degraded_since=since.isoformat())
        self.state.record_event("outage_started", {"reason": str(cause)})
        last: BaseException = cause
        attempt = 0
        while True:
            attempt += 1
            left = policy.max_outage - (self._clock() - began)
            if left <= 0:
                self._too_long(began, last)
            pause = min(policy.delay(attempt, self._rng), left)
            self.waits.append(pause)
            if self._stop.wait(pause):
                raise StopDuringOutage()
            if self._alive is not None:
                self._alive()
            try:
                self.probe()
                self.reconcile()
            except TransientBrokerError as exc:
                last = exc
                continue
            break
        lasted = self._clock() - began
        self.state.record_event("outage_ended", {"seconds": round(lasted, 3), "probes": attempt})
        self.state.set_meta(status="running", degraded_since="")
        log.warning(
            "venue answers again after %.1f s (%d probe(s)); orders and positions reconciled, "
            "trading resumes", lasted, attempt,
            extra={"event": "outage_ended", "strategy": self.strategy, "reason": str(cause)},
        )  # fmt: skip

    def _too_long(self, began: float, last: BaseException) -> None:
        lasted = self._clock() - began
        self.state.record_event("outage_too_long", {"seconds": round(lasted, 3)})
        raise VenueOutageTooLong(
            f"the venue has not answered for {lasted:.0f} s (last: {last})",
            hint=f"the runner waits at most {self.policy.max_outage:g} s (--max-outage); "
            "start it again once the venue is back: it reconciles before trading",
        )
