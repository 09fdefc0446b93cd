"""The runner's signal handlers: SIGTERM and a first Ctrl-C ask a stop (from a thread of
their own, never inside the handler), a second Ctrl-C interrupts, and the handlers before
are put back."""

from __future__ import annotations

import signal
import threading

import pytest

from workbench.live.signals import (
    CTRL_C,
    CTRL_C_AGAIN,
    STOP_REQUESTED,
    StopSignals,
    exit_code,
)


class Stops:
    """A runner's ``stop`` and ``stopping``: what was asked, and from which thread."""

    def __init__(self, stopping: bool = False) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.asked = threading.Event()
        if stopping:
            self.asked.set()

    def stop(self, reason: str, note: str) -> None:
        on_main = threading.current_thread() is threading.main_thread()
        self.calls.append((reason, note, on_main))
        self.asked.set()

    def stopping(self) -> bool:
        return self.asked.is_set()

    def wait(self) -> None:
        assert self.asked.wait(timeout=30), "stop was never called"


@pytest.mark.parametrize(
    ("signum", "reason", "note", "code"),
    [
        (signal.SIGTERM, STOP_REQUESTED, "", 0),
        (signal.SIGINT, CTRL_C, CTRL_C_AGAIN, 130),
    ],
)
def test_a_first_signal_asks_a_stop_off_the_main_thread(signum, reason, note, code) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    stops = Stops()
    with StopSignals(stops.stop, stops.stopping) as signals:
        signal.raise_signal(signum)  # the handler has run when this returns
        stops.wait()
    assert stops.calls == [(reason, note, False)]
    assert signals.received == signum and exit_code(signals.received) == code
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_ctrl_c_interrupts_at_once() -> None:
    stops = Stops()
    with StopSignals(stops.stop, stops.stopping), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # maybe before the first stop even ran
    assert stops.calls == [(CTRL_C, CTRL_C_AGAIN, False)]  # the first: done by the exit


def test_ctrl_c_after_sigterm_or_while_stopping_for_another_reason_interrupts() -> None:
    stops = Stops()
    with StopSignals(stops.stop, stops.stopping) as signals, pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert signals.received == signal.SIGTERM and stops.calls == [(STOP_REQUESTED, "", False)]
    already = Stops(stopping=True)  # a state file fault asked the stop
    with StopSignals(already.stop, already.stopping) as signals, pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert already.calls == [] and signals.received is None and exit_code(None) == 0
