"""The state store saves the simulated venue with the runner's writes (``keep_venue``)."""

from __future__ import annotations

import threading

import pytest

from tests.unit.sim.test_sim_snapshot import step, the_venue, venue
from workbench.live.state import StateStore
from workbench.sim.snapshot import VenueJournal, restore


def test_the_state_store_saves_the_venue_with_its_own_writes_only(tmp_path) -> None:
    """With each write of the runner's thread, in its transaction; never with another
    thread's (the heartbeat's), and again after a write that did not commit."""
    path = tmp_path / "live.sqlite"
    broker = venue()
    with StateStore(path) as state:
        state.keep_venue(VenueJournal(broker))
        assert state.saved_venue() is None
        for i in range(3):
            step(broker, i)
        other = threading.Thread(target=state.heartbeat)
        other.start()
        other.join()
        assert state.saved_venue() is None  # the heartbeat's write: without the venue
        with pytest.raises(RuntimeError), state.transaction():
            raise RuntimeError("a write that fails")
        assert state.saved_venue() is None
        state.set_meta(note="x")
        saved = state.saved_venue()
        assert saved is not None and len(saved.fills) == len(broker.fills) > 0
    resumed = venue()
    restore(resumed, saved)
    assert the_venue(resumed) == the_venue(broker)
