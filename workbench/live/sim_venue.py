"""A ``--broker sim`` run's simulated venue, resumed from its state file.

Alpaca's paper account outlives a restart of the runner; the simulated venue lives in the
runner's process, so the state file saves it (:mod:`workbench.sim.snapshot`,
:meth:`~workbench.live.state.StateStore.keep_venue`) and a run started again on the file
resumes it: the same cash, positions, orders, fills, order ids and time. The live
composition root (:mod:`workbench.compose`) calls :func:`keep_venue` for sim runs.
"""

from __future__ import annotations

import logging

from workbench.errors import ConfigError
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker

__all__ = ["keep_venue"]

log = logging.getLogger(__name__)


def keep_venue(broker: SimulatedBroker, state: StateStore, *, cash: float | None = None) -> bool:
    """Resume the simulated venue the state file saved (its cash, positions, orders,
    fills, counter and time: Alpaca's paper account outlives a restart, so does this
    one), and save it with each of the runner's writes from now on
    (:meth:`StateStore.keep_venue`). Call it on the thread that runs the runner.
    True when a venue was resumed; a new file's venue starts with the spec's capital (or
    ``--cash``), recorded as ``sim_cash`` in the meta.

    ``cash`` (``--cash``) sets a new venue's cash only: on a resumed one it must be the
    cash that venue started with (the same command started again), anything else is
    refused, not silently ignored. A file whose run traded but holds no venue (written
    before venues were saved, or by a ``--broker alpaca`` run) is refused: its venue
    cannot be rebuilt exactly from the state's records (see :func:`_refuse_lost_venue`).
    """
    from workbench.sim.snapshot import VenueJournal, restore

    saved = state.saved_venue()
    if saved is None:
        _refuse_lost_venue(state)
        state.keep_venue(VenueJournal(broker))
        state.set_meta(sim_cash=broker.portfolio.cash)  # saved with the venue: one write
        return False
    restore(broker, saved)
    if cash is not None:
        _check_cash(state, broker, cash)
    account = broker.get_account()
    log.info(
        "resumed the simulated venue of %s: cash %.2f, equity %.2f, %d position(s), "
        "%d open order(s), %d fill(s), at %s", state.path, account.cash, account.equity,
        len(broker.get_positions()), len(broker.get_open_orders()), len(broker.fills),
        broker.time,
        extra={"event": "venue_resumed", "cash": account.cash, "equity": account.equity},
    )  # fmt: skip
    state.keep_venue(VenueJournal(broker, restored=True))
    return True


def _check_cash(state: StateStore, broker: SimulatedBroker, cash: float) -> None:
    """``--cash`` on a resumed venue: the one it started with, or refused."""
    started = state.get_meta("sim_cash")
    if started is not None and float(started) == float(cash):
        return
    began = (
        f"started with {float(started):,.2f}"
        if started is not None
        else "whose starting cash the file does not record"
    )
    raise ConfigError(
        f"--cash {cash:g}: {state.path} resumes a simulated venue {began}, holding "
        f"{broker.portfolio.cash:,.2f} in cash now; --cash sets a new state file's venue only",
        hint=f"omit --cash to resume this venue, or give a new --state to start one with {cash:g}",
    )


def _refuse_lost_venue(state: StateStore) -> None:
    """A run that traded (orders or fills recorded) with no venue saved cannot resume one.

    Not rebuilt from the records, because they do not make it exactly: a bracket's legs
    have no client order id and are not in the orders table, trailing marks, triggered
    stops and DAY orders' session ends are not recorded, nor the order-id counter, nor the
    cash a ``--cash`` run started with, and fills the venue made after the last record
    died with it. A flat venue with the spec's cash, what a start did before, was refused
    later by the start-up reconciliation (exit code 6) with advice that loses positions.
    (A file another broker's run wrote is refused before this, by
    :func:`workbench.compose.check_same_run`.)
    """
    orders, fills = state.traded()
    if not orders and not fills:
        return  # it never traded: a new venue is exactly the one it had
    what = f"{orders} order(s) and {fills} fill(s)"
    raise ConfigError(
        f"{state.path} predates saving the simulated venue in the state file: it records "
        f"{what} but not the venue (cash, positions, open orders, order ids) they were made "
        "on, which cannot be rebuilt exactly from them",
        hint="start the run on a new --state file (this one stays readable: workbench live "
        "status, workbench reconcile), or finish it with the workbench version that wrote it",
    )
