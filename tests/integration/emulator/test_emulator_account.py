"""The account's margin fields and its "previous trading day", held to Alpaca's documents
through the real alpaca-py client.

- Alpaca's account examples: ``initial_margin`` is Reg T's 50% of the positions' value
  (63480.38 of a 126960.76 long), ``maintenance_margin`` 30% of it (38088.228), and
  ``regt_buying_power`` twice the equity above the initial margin (80680.36 =
  2 x (103820.56 - 63480.38)) in a 4x account (Trading API reference, Account).
- "Margin and Short Selling": the maintenance requirement of a long is 30% of its market
  value (100% under $2.50); of a short the greater of $5.00 a share and 30% (under
  $5.00, the greater of $2.50 a share and 100%).
- ``last_equity`` is the "Equity as of previous trading day at 16:00:00 ET", a position's
  ``lastday_price`` the "closing value of the last trading day": after-hours bars move
  neither, and the trading day is New York's (an evening past midnight UTC is its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from alpaca.trading.requests import GetPortfolioHistoryRequest, MarketOrderRequest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

KEY, SECRET = "account-key", "account-secret"
BARS = [  # daily bars from Monday 2024-01-01: open, high, low, close, volume
    (100.0, 101.0, 99.0, 100.0, 1000.0),
    (101.0, 103.0, 100.0, 102.0, 1000.0),
    (102.0, 104.0, 98.0, 99.0, 1000.0),
]


def _frame(scale: float) -> pd.DataFrame:
    index = pd.bdate_range("2024-01-01", periods=len(BARS), tz="UTC", name="time")
    frame = pd.DataFrame(BARS, index=index, columns=["open", "high", "low", "close", "volume"])
    frame[["open", "high", "low", "close"]] *= scale
    return frame


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    # AAA near $100, LOW near $2 (a long under $2.50), SHO near $10 (a short under $16.67,
    # where $5.00 a share is more than 30%)
    frames = {"AAA": _frame(1.0), "LOW": _frame(0.02), "SHO": _frame(0.1)}
    with Emulator(frames, key=KEY, secret=SECRET, margin=2.0) as e:
        yield e


def _maintenance(prices: dict[str, float]) -> float:
    return 0.3 * 10 * prices["AAA"] + 1.0 * 100 * prices["LOW"] + max(5.0, 0.3 * prices["SHO"]) * 20


def test_margin_requirements_follow_alpacas_tables(emu: Emulator) -> None:
    c = emt.trading_client(emu)
    emu.step()  # 2024-01-01 published
    account = c.get_account()
    assert (account.initial_margin, account.maintenance_margin) == ("0", "0")
    for symbol, qty, side in (("AAA", 10, "buy"), ("LOW", 100, "buy"), ("SHO", 20, "sell")):
        c.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force="day"))
    emu.step()  # filled at 2024-01-02's opens, marked at its closes
    day2 = {"AAA": 102.0, "LOW": 2.04, "SHO": 10.2}
    gross = 10 * 102.0 + 100 * 2.04 + 20 * 10.2
    account = c.get_account()
    assert float(account.long_market_value) == pytest.approx(10 * 102.0 + 100 * 2.04)
    assert float(account.short_market_value) == pytest.approx(-20 * 10.2)
    assert float(account.initial_margin) == pytest.approx(0.5 * gross)
    assert float(account.maintenance_margin) == pytest.approx(_maintenance(day2))
    assert account.last_maintenance_margin == "0"  # no positions at the previous close
    equity = float(account.equity)
    assert float(account.cash) + gross - 2 * 20 * 10.2 == pytest.approx(equity)
    # a 2x account: Reg T buying power is its buying power, 2 x (equity - initial margin)
    assert float(account.buying_power) == pytest.approx(2 * (equity - 0.5 * gross))
    assert account.regt_buying_power == account.buying_power
    emu.step()  # 2024-01-03: the previous day's requirement is the one at its close
    day3 = {"AAA": 99.0, "LOW": 1.98, "SHO": 9.9}
    account = c.get_account()
    assert float(account.last_maintenance_margin) == pytest.approx(_maintenance(day2))
    assert float(account.maintenance_margin) == pytest.approx(_maintenance(day3))
    # a 4x account: buying power 4x, Reg T buying power still 2 x (equity - initial margin)
    r = requests.patch(
        f"{emu.base_url}/v2/account/configurations",
        json={"max_margin_multiplier": "4"},
        headers=emt.headers(emu),
        timeout=5,
    )
    assert r.status_code == 200
    account = c.get_account()
    equity, initial = float(account.equity), float(account.initial_margin)
    assert account.multiplier == "4"
    assert float(account.regt_buying_power) == pytest.approx(2 * (equity - initial))
    assert float(account.buying_power) > float(account.regt_buying_power)


def test_assets_are_marginable_at_30_percent(emu: Emulator) -> None:
    """Alpaca's asset example: a marginable stock's ``maintenance_margin_requirement`` is
    30 (100 is the requirement of a stock that cannot be margined)."""
    asset = emt.trading_client(emu).get_asset("AAA")
    assert asset.marginable and asset.maintenance_margin_requirement == 30


def _extended_hours_frame() -> pd.DataFrame:
    """30-minute bars from 08:00 to 20:00 New York on 2024-01-02 and 03: the 2nd trades
    at 100 in the session, 95 before it and 90 after it; the 3rd at 110, 108 outside."""
    rows, index = [], []
    for day, (regular, pre, post) in {
        "2024-01-02": (100.0, 95.0, 90.0),
        "2024-01-03": (110.0, 108.0, 108.0),
    }.items():
        for k in range(24):
            t = pd.Timestamp(f"{day} 13:00", tz="UTC") + pd.Timedelta(minutes=30 * k)
            et = t.tz_convert("America/New_York")
            inside = (et.hour, et.minute) >= (9, 30) and et.hour < 16
            p = regular if inside else (post if et.hour >= 16 else pre)
            index.append(t)
            rows.append((p, p, p, p, 1000.0))
    columns = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(rows, index=pd.DatetimeIndex(index, name="time"), columns=columns)


def test_last_equity_and_lastday_price_are_the_previous_sessions_close() -> None:
    with Emulator({"AAA": _extended_hours_frame()}, key=KEY, secret=SECRET) as emu:
        c = emt.trading_client(emu)
        emu.step(4)  # 10:00 New York on the 2nd
        c.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day"))
        emu.step()  # bought 10 at 100
        emu.step(23)  # to 10:00 on the 3rd, through the 2nd's after hours (at 90)
        assert c.get_clock().timestamp == pd.Timestamp("2024-01-03 10:00", tz="America/New_York")
        account = c.get_account()
        assert account.last_equity == "100000"  # 16:00 on the 2nd: 10 shares at 100
        assert account.equity == "100100"
        position = c.get_open_position("AAA")
        assert (position.lastday_price, position.current_price) == ("100", "110")
        assert position.unrealized_intraday_pl == "100"
        assert float(position.change_today) == pytest.approx(0.1)


def test_the_days_pl_of_a_position_opened_today_is_from_its_entry() -> None:
    """Alpaca-API #37 (positions bought that day): ``unrealized_intraday_pl`` equals
    ``unrealized_pl``, (current - entry) x qty (22 x (36.28 - 36.02) = 5.72 with a
    ``lastday_price`` of 35.89); from the next day on, it is from the last close."""
    with Emulator({"AAA": _frame(1.0)}, key=KEY, secret=SECRET) as emu:
        c = emt.trading_client(emu)
        emu.step()  # 2024-01-01 closes at 100
        c.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day"))
        emu.step()  # bought at 101, closes at 102
        position = c.get_open_position("AAA")
        assert (position.lastday_price, position.change_today) == ("100", "0.02")
        assert position.unrealized_intraday_pl == position.unrealized_pl == "10"
        assert position.unrealized_intraday_plpc == position.unrealized_plpc
        emu.step()  # held overnight; closes at 99
        position = c.get_open_position("AAA")
        assert (position.unrealized_intraday_pl, position.unrealized_pl) == ("-30", "-20")
        assert float(position.unrealized_intraday_plpc) == pytest.approx(-30 / 1020)


#: New York prices of each day's parts: before 09:30, 09:30-12:00, 12:00-16:00, after 16:00.
WEEK = {
    "2024-01-03": (98.0, 98.0, 98.0, 98.0),  # Wednesday: history
    "2024-01-04": (100.0, 100.0, 104.0, 103.0),
    "2024-01-05": (106.0, 108.0, 110.0, 107.0),  # Friday
    "2024-01-08": (111.0, 112.0, 112.0, 112.0),  # Monday
}


def _evenings_frame() -> pd.DataFrame:
    """30-minute bars from 04:00 to 20:00 New York (09:00 to 01:00 UTC: in winter the
    evening from 19:00 is the next UTC day), priced by :data:`WEEK`."""
    rows, index = [], []
    for day, prices in WEEK.items():
        start = pd.Timestamp(f"{day} 04:00", tz="America/New_York")
        for k in range(32):
            et = start + pd.Timedelta(minutes=30 * k)
            part = 0 if et.hour * 60 + et.minute < 570 else 1 if et.hour < 12 else 2
            p = prices[3 if et.hour >= 16 else part]
            index.append(et.tz_convert("UTC"))
            rows.append((p, p, p, p, 1000.0))
    columns = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(rows, index=pd.DatetimeIndex(index, name="time"), columns=columns)


def _to(emu: Emulator, client: Any, new_york: str) -> None:
    """Step until the replay's clock reads ``new_york`` (New York wall clock)."""
    want = pd.Timestamp(new_york, tz="America/New_York")
    while client.get_clock().timestamp < want:
        emu.step()
    assert client.get_clock().timestamp == want


def test_the_accounts_day_turns_at_new_york_midnight_not_utc() -> None:
    """An evening after 19:00 New York (past midnight UTC in winter) is still that day:
    ``last_equity`` stays the previous trading day's 16:00 equity and a position bought
    that day keeps its day's P/L from its entry; Friday's evening stays Friday's, and
    Monday's day is from Friday's close (not from its evening)."""
    frame = _evenings_frame()
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET, replay_from="2024-01-04 09:00") as emu:
        c = emt.trading_client(emu)
        _to(emu, c, "2024-01-04 10:00")
        c.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day"))
        _to(emu, c, "2024-01-04 10:30")  # bought 10 at 100: cash 99000
        _to(emu, c, "2024-01-04 19:30")  # 00:30 UTC on the 5th; closed at 104 at 16:00
        account, position = c.get_account(), c.get_open_position("AAA")
        assert (account.last_equity, account.equity) == ("100000", "100030")
        assert (position.lastday_price, position.current_price) == ("98", "103")
        assert position.unrealized_intraday_pl == position.unrealized_pl == "30"
        assert float(position.change_today) == pytest.approx(5 / 98)

        _to(emu, c, "2024-01-05 10:00")  # the next day: from Thursday's 16:00
        account, position = c.get_account(), c.get_open_position("AAA")
        assert (account.last_equity, account.equity) == ("100040", "100080")
        assert (position.lastday_price, position.unrealized_intraday_pl) == ("104", "40")

        _to(emu, c, "2024-01-05 19:30")  # Saturday 00:30 UTC: still Friday
        account, position = c.get_account(), c.get_open_position("AAA")
        assert (account.last_equity, account.equity) == ("100040", "100070")
        assert (position.lastday_price, position.unrealized_intraday_pl) == ("104", "30")

        _to(emu, c, "2024-01-05 20:00")
        emu.step()  # over the weekend to Monday's 04:00 bar (at 111)
        assert c.get_clock().timestamp == pd.Timestamp("2024-01-08 04:30", tz="America/New_York")
        account, position = c.get_account(), c.get_open_position("AAA")
        assert (account.last_equity, account.equity) == ("100100", "100110")  # Friday's 16:00
        assert (position.lastday_price, position.unrealized_intraday_pl) == ("110", "10")
        assert float(position.change_today) == pytest.approx(1 / 110)


def test_the_daily_portfolio_history_has_new_york_days_only() -> None:
    """ "The 1D chart only contains data for days when the market was open": Thursday's
    and Friday's evenings (past midnight UTC) are their own days' last values, not a
    Friday's and a Saturday's."""
    with Emulator(
        {"AAA": _evenings_frame()}, key=KEY, secret=SECRET, replay_from="2024-01-04 09:00"
    ) as emu:
        c = emt.trading_client(emu)
        _to(emu, c, "2024-01-04 10:00")
        c.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day"))
        _to(emu, c, "2024-01-08 04:30")
        history = c.get_portfolio_history(GetPortfolioHistoryRequest(timeframe="1D"))
        days = [str(pd.Timestamp(t, unit="s").date()) for t in history.timestamp]
        assert days == ["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
        # Wednesday: cash; then 99000 cash and 10 shares at 103, 107 and 111
        assert history.equity == [100000, 100030, 100070, 100110]
