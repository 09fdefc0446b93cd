"""Crash-safe state of a live run in one SQLite file (WAL).

Everything the runner acts on is written here first, each step in its own
transaction: the bars it has seen, the intents of each decision, the orders it sent
(by client order id), the fills it learned of, equity snapshots, events and a
heartbeat. After a crash the runner reads it back, asks the broker what happened
meanwhile, and carries on: nothing is lost and nothing is sent twice.

A decision is written in one transaction with the order requests it will send
(client order id, decision bar), the risk events it caused and the meta key
``decided_through`` (the last bar decided): a bar recorded after that mark was never
decided, and is decided after a restart.

Other parts keep their own tables in the same file (the risk engine's state, say). A
``--broker sim`` run's simulated venue is saved here too (:meth:`StateStore.keep_venue`,
:mod:`workbench.sim.snapshot`), in the transaction of each of the runner's writes, and
restored when the run starts again on the file.

This module is the only one that knows the schema: ``live status``, the dashboard,
reconciliation and the chaos harness read through :meth:`StateStore.reader` (a
read-only connection that never creates the file or a table) and the typed reads
below, never with SQL of their own.

The package is the state store, one concept per module: :mod:`.schema` (the tables),
:mod:`.file` (opening the SQLite file, the read-only reader, transactions and the
machine's faults), :mod:`.records` (the typed rows the reads return) and :mod:`.store`
(:class:`StateStore`: what a run writes and reads).
"""

from workbench.live.state.records import EquityPoint, EventRecord
from workbench.live.state.store import StateStore, read_or

__all__ = ["EquityPoint", "EventRecord", "StateStore", "read_or"]
