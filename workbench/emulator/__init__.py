"""An Alpaca-compatible emulator: Alpaca's REST API and both WebSockets over replayed bars.

The unmodified alpaca-py SDK talks to it through ``url_override``. Orders are filled by
the project's :class:`~workbench.sim.broker.SimulatedBroker` against the same bars a
backtest would use, with the same fill rules and costs; the emulator adds Alpaca's
wire formats, ids, submission checks and error codes, a replay clock, and faults.

- :class:`Emulator`: the server on a background thread (``with Emulator(...) as emu``),
  ``emu.step()``, ``emu.set_faults(...)``, ``emu.state()``, ``emu.reset()``.
- :class:`Fault`: what can go wrong (see :mod:`workbench.emulator.faults`).
- ``workbench emulator --port 8765 --data sample:SPX``: the same from the command line.

Modules: ``venue`` (the account and the replay clock), ``checks`` and ``rules``
(Alpaca's submission rules), ``shapes`` (JSON), ``marketdata`` (bars, pagination),
``rest`` and ``streams`` (the wire), ``app`` (pipeline, control API), ``server``.
"""

from __future__ import annotations

from workbench.emulator.faults import Fault
from workbench.emulator.server import Emulator, as_fault

__all__ = ["Emulator", "Fault", "as_fault"]
