"""Deterministic client order ids: the same decision, the same id, so a retried or
restarted submission finds its order instead of sending a second (see
:mod:`workbench.execution.engine`).

The stamp is the decision bar's instant in UTC, not its session's date on New York's
clock, on purpose: an evening decision after 19:00 New York in winter carries the next
UTC date. An instant names one decision; a local clock repeats an hour when summer time
ends (01:30 New York comes twice), which would give two decisions one id; and an id must
not change between versions, or a runner restarted on a newer one would not find the
orders it sent and would send them again. Nothing reads a day out of an id."""

from __future__ import annotations

import hashlib
import time as _time

import pandas as pd

from workbench.errors import ConfigError

__all__ = ["MAX_CLIENT_ID", "client_order_id"]

#: The longest client order id Alpaca takes.
MAX_CLIENT_ID = 128


def client_order_id(strategy: str, symbol: str, decision: pd.Timestamp, seq: int) -> str:
    """``wb-<strategy>-<symbol>-<decision bar UTC>-<n>``: the same decision, the same id."""
    if decision.tzinfo is None:
        raise ConfigError(f"decision time {decision} has no time zone", hint="use UTC times")
    stamp = _stamp(decision.value // 1_000_000_000)
    cid = f"wb-{strategy}-{symbol}-{stamp}-{seq}"
    if len(cid) > MAX_CLIENT_ID:
        digest = hashlib.sha256(cid.encode()).hexdigest()[:16]
        cid = f"wb-{digest}-{stamp}-{seq}"
    return cid


#: The UTC day of the last stamp: (day number, ``YYYYmmddT``).
_last_day: tuple[int, str] = (-1, "")
#: ``HHMM`` of each minute of a day and ``SS`` of each second of a minute.
_HHMM = tuple(f"{h:02d}{m:02d}" for h in range(24) for m in range(60))
_SS = tuple(f"{s:02d}" for s in range(60))


def _stamp(second: int) -> str:
    """The UTC second ``second`` (epoch) as ``YYYYmmddTHHMMSS``: the day's date is kept
    from the last call (``strftime`` then runs once a day, not once an order), the time
    of day is looked up; a test holds it equal to ``strftime`` across days."""
    global _last_day
    day, rest = divmod(second, 86_400)
    last = _last_day  # one read: another thread's update replaces the whole tuple
    if last[0] != day:
        last = _last_day = (day, _time.strftime("%Y%m%dT", _time.gmtime(day * 86_400)))
    return last[1] + _HHMM[rest // 60] + _SS[rest % 60]
