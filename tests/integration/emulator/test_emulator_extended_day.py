"""The lifetime of an ``extended_hours`` DAY order at the emulator, through alpaca-py.

Alpaca: a day order "is eligible for execution only on the day it is live ... if marked
as eligible for extended hours, the order can also execute during supported extended
hours" (Orders at Alpaca, Time in Force); one placed in the overnight session (from 20:00
New York, which "marks the beginning of a new trading day") remains active "through the
regular and after-hours sessions of the upcoming trading day. If unfilled, the order is
canceled at 8:00 PM ET" (24/5 Trading, Trading API). On an early close the after-hours
end at 17:00 ("During a half day trading session, the extended session is from 4 am to
5pm ET", Alpaca's announcement of full extended hours). So it ends with its trading day's
after-hours, whenever in that day it was sent (``workbench/emulator/tif.py``).

Every order below is a one-share buy limit; each bar's low says which limits it reaches.
"""

from __future__ import annotations

import pandas as pd
import requests
from alpaca.trading.requests import LimitOrderRequest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

KEY, SECRET = "ext-key", "ext-secret"
COLUMNS = ["open", "high", "low", "close", "volume"]


def _frame(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp(t, tz="UTC") for t, *_ in rows], name="time")
    return pd.DataFrame([(*p, 1000.0) for _, *p in rows], index=index, columns=COLUMNS)


def _ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York")


WINTER = [  # AAA minute bars, Tuesday 2024-01-02 and Wednesday (UTC; New York is UTC-5)
    ("2024-01-02 10:00", 100.0, 100.5, 99.5, 100.0),  # 05:00: pre-market
    ("2024-01-02 10:01", 100.0, 100.5, 99.8, 100.0),
    ("2024-01-02 14:30", 100.0, 101.0, 99.5, 100.5),  # 09:30: the open
    ("2024-01-02 14:31", 100.5, 101.0, 100.0, 100.8),
    ("2024-01-02 20:59", 101.0, 101.5, 100.5, 101.0),  # 15:59: the session's last
    ("2024-01-02 22:00", 101.0, 101.2, 100.8, 101.0),  # 17:00: after-hours
    ("2024-01-03 00:30", 96.0, 96.5, 95.0, 95.8),  # 19:30: after-hours, past midnight UTC
    ("2024-01-03 01:30", 95.0, 95.5, 94.2, 95.0),  # 20:30: overnight, Wednesday's day
    ("2024-01-03 13:00", 95.0, 95.5, 94.0, 95.0),  # Wednesday 08:00: pre-market
    ("2024-01-03 14:30", 98.0, 99.0, 97.0, 98.5),  # 09:30
    ("2024-01-03 14:31", 98.5, 99.0, 98.0, 98.8),
    ("2024-01-03 20:59", 99.0, 99.5, 98.5, 99.0),  # 15:59
    ("2024-01-03 22:00", 95.0, 95.5, 93.0, 94.0),  # 17:00: after-hours
    ("2024-01-04 01:30", 94.0, 94.5, 92.0, 93.0),  # 20:30: overnight, Thursday's day
]


def _limit(c: object, price: float, *, extended: bool = True) -> object:
    order = LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day",
                              limit_price=price, extended_hours=extended)  # fmt: skip
    return c.submit_order(order)  # type: ignore[attr-defined]


def test_an_extended_day_order_lives_until_its_trading_days_after_hours_end() -> None:
    """Sent in the pre-market, the session or the after-hours: good until 20:00 New York
    that day (19:30 fills, 20:00 ends it even though a bar later reaches it); sent after
    20:00: good through the next day's after-hours (filled at 17:00 on Wednesday), ended at
    Wednesday's 20:00. A regular day order still ends at the close. The 19:30 bar is past
    midnight UTC: the simulated broker's day (a UTC date) must not end the order there."""
    ends_tuesday, ends_wednesday = _ny("2024-01-02 20:00"), _ny("2024-01-03 20:00")
    with Emulator({"AAA": _frame(WINTER)}, key=KEY, secret=SECRET) as emu:
        c = emt.trading_client(emu)
        emu.step(2)  # the clock reads 05:02: pre-market
        pre = _limit(c, 95.5)
        assert (c.get_order_by_id(pre.id).status, pre.expires_at) == ("new", ends_tuesday)
        assert (pre.time_in_force, pre.extended_hours) == ("day", True)
        emu.step(2)  # 09:32: in the session
        day = _limit(c, 94.5)
        regular = _limit(c, 94.5, extended=False)
        assert (day.expires_at, regular.expires_at) == (ends_tuesday, _ny("2024-01-02 16:00"))
        emu.step(2)  # 17:01: after-hours
        evening = _limit(c, 94.5)
        assert evening.expires_at == ends_tuesday
        emu.step()  # 19:30 (00:30 UTC): the pre-market order fills
        filled = c.get_order_by_id(pre.id)
        assert (filled.status, filled.filled_avg_price, filled.filled_at) == (
            "filled", "95.5", _ny("2024-01-02 19:30")
        )  # fmt: skip
        emu.step()  # 20:30: its low (94.2) would fill the 94.5 limits; their day is over
        for order, ended in ((day, ends_tuesday), (evening, ends_tuesday),
                             (regular, _ny("2024-01-02 16:00"))):  # fmt: skip
            over = c.get_order_by_id(order.id)
            assert (over.status, over.expired_at, over.filled_qty) == ("expired", ended, "0")
        overnight = _limit(c, 93.5)  # 20:31: Wednesday's trading day
        never = _limit(c, 92.5)
        assert overnight.expires_at == ends_wednesday
        assert c.get_order_by_id(overnight.id).status == "new"  # routed at once
        assert never.expires_at == ends_wednesday
        emu.step(4)  # Wednesday's pre-market and session: no fill yet
        assert c.get_order_by_id(overnight.id).status == "new"
        emu.step()  # Wednesday 17:00 (low 93)
        late = c.get_order_by_id(overnight.id)
        assert (late.status, late.filled_avg_price, late.filled_at) == (
            "filled", "93.5", _ny("2024-01-03 17:00")
        )  # fmt: skip
        emu.step()  # 20:30 (low 92): the 92.5 limit ended at 20:00, before this bar
        over = c.get_order_by_id(never.id)
        assert (over.status, over.expired_at, over.filled_qty) == ("expired", ends_wednesday, "0")


HALF_DAY = [  # Thanksgiving 2023: Thursday closed, Friday 2023-11-24 closes at 13:00
    ("2023-11-22 20:59", 100.0, 100.5, 99.5, 100.0),  # Wednesday 15:59
    ("2023-11-23 01:30", 100.0, 100.5, 99.5, 100.0),  # Wednesday 20:30
    ("2023-11-23 01:31", 100.0, 100.5, 99.5, 100.0),
    ("2023-11-24 14:30", 100.0, 100.5, 99.5, 100.0),  # Friday 09:30
    ("2023-11-24 14:31", 100.0, 100.5, 99.5, 100.0),
    ("2023-11-24 17:59", 100.0, 100.5, 99.5, 100.0),  # 12:59: the session's last
    ("2023-11-24 21:30", 96.0, 96.5, 95.0, 95.8),  # 16:30: after-hours
    ("2023-11-24 22:30", 95.0, 95.5, 94.0, 94.5),  # 17:30: the after-hours are over
    ("2023-11-27 13:00", 95.0, 95.5, 94.0, 94.5),  # Monday 08:00
]


def test_on_an_early_close_the_after_hours_end_at_17() -> None:
    """Friday after Thanksgiving: the after-hours run 13:00-17:00. An order sent on
    Wednesday evening after 20:00 is for Friday (Thursday has no session) and fills at
    16:30 like one sent on Friday morning; a Friday one not filled by 17:00 ends then, and
    the 17:30 bar does not fill it."""
    ends = _ny("2023-11-24 17:00")
    with Emulator({"AAA": _frame(HALF_DAY)}, key=KEY, secret=SECRET) as emu:
        c = emt.trading_client(emu)
        emu.step(3)  # Wednesday 20:32
        wednesday = _limit(c, 95.5)
        emu.step(2)  # Friday 09:32
        friday, lower = _limit(c, 95.5), _limit(c, 94.5)
        assert {o.expires_at for o in (wednesday, friday, lower)} == {ends}
        emu.step(3)  # 12:59, 16:30 and 17:30
        for order in (wednesday, friday):
            got = c.get_order_by_id(order.id)
            assert (got.status, got.filled_avg_price, got.filled_at) == (
                "filled", "95.5", _ny("2023-11-24 16:30")
            )  # fmt: skip
        over = c.get_order_by_id(lower.id)
        assert (over.status, over.expired_at, over.filled_qty) == ("expired", ends, "0")


def test_the_calendars_session_close_is_the_after_hours_end() -> None:
    """``/v2/calendar``'s ``session_close`` is the end of the after-hours: ``1700`` on a
    13:00 close, as Alpaca's calendar answers (recorded for 2026-11-27: close "13:00",
    session_close "1700"; alpaca-py's ``Calendar`` does not read the field)."""
    with Emulator({"AAA": _frame(HALF_DAY)}, key=KEY, secret=SECRET) as emu:
        answer = requests.get(
            f"{emu.base_url}/v2/calendar", params={"start": "2023-11-22", "end": "2023-11-27"},
            headers=emt.headers(emu), timeout=10,
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    days = [(d["date"], d["close"], d["session_open"], d["session_close"]) for d in answer.json()]
    assert days == [
        ("2023-11-22", "16:00", "0400", "2000"),
        ("2023-11-24", "13:00", "0400", "1700"),
        ("2023-11-27", "16:00", "0400", "2000"),
    ]
