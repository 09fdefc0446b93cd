"""A small web dashboard over a live run's state file: status, risk, P&L, orders, fills, logs.

::

    workbench dashboard --state live.sqlite [--host 127.0.0.1] [--port 8050]

Read-only by default and bound to 127.0.0.1; on any other address it needs a token.
Flask is imported only here, never by ``import workbench``.
"""

from __future__ import annotations

from workbench.dashboard.app import create_app, serve
from workbench.dashboard.data import snapshot

__all__ = ["create_app", "serve", "snapshot"]
