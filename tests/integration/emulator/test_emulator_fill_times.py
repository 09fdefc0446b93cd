"""What time a fill on daily data says, everywhere Alpaca shows it.

On daily data the replay's clock after the bar of date D is the midnight ending D on the
calendar's clock, so an order sent then is created at New York midnight (XNYS). Alpaca
fills an order sent overnight at the session's open at the earliest: the fill of the
next day's bar says 09:30 New York (13:30 or 14:30 UTC with daylight saving), on the
order, the trade update and the activity, never before the order was created. On a 24/7
calendar the day opens at midnight UTC: the fill's time is its bar's, as before.
"""

from __future__ import annotations

import pandas as pd
import pytest
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest, GetPortfolioHistoryRequest, MarketOrderRequest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

COLUMNS = ["open", "high", "low", "close", "volume"]
NY = "America/New_York"


def _bars(first: str) -> pd.DataFrame:
    index = pd.bdate_range(first, periods=3, tz="UTC", name="time")
    rows = [(100.0, 101.0, 99.0, 100.0, 1000.0), (102.0, 105.0, 101.0, 104.0, 1000.0),
            (103.0, 104.0, 102.0, 103.0, 1000.0)]  # fmt: skip
    return pd.DataFrame(rows, index=index, columns=COLUMNS)


@pytest.mark.parametrize(
    ("calendar", "first", "created", "filled"),
    [
        # winter: Tuesday's bar, the order sent at its New York midnight, filled Wednesday
        ("XNYS", "2024-01-02", pd.Timestamp("2024-01-03", tz=NY),
         pd.Timestamp("2024-01-03 14:30", tz="UTC")),
        # summer (EDT): the same open is an hour earlier in UTC
        ("XNYS", "2024-07-09", pd.Timestamp("2024-07-10", tz=NY),
         pd.Timestamp("2024-07-10 13:30", tz="UTC")),
        # 24/7: the day opens at midnight UTC, where the order was sent: unchanged
        ("24/7", "2024-01-02", pd.Timestamp("2024-01-03", tz="UTC"),
         pd.Timestamp("2024-01-03", tz="UTC")),
    ],
)  # fmt: skip
def test_a_fill_on_daily_data_is_at_the_sessions_open_after_its_order(
    calendar: str, first: str, created: pd.Timestamp, filled: pd.Timestamp
) -> None:
    with Emulator({"AAA": _bars(first)}, key="k", secret="s", calendar=calendar) as emu:
        c, stream = emt.trading_client(emu), emt.trading_stream(emu)
        try:
            emu.step()  # the first day's bar
            order = c.submit_order(
                MarketOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="day")
            )
            emu.step()  # the next day's bar fills it at its open, 102; closes at 104
            updates = stream.take(2)
        finally:
            stream.stop()
        done = c.get_order_by_id(order.id)
        listed = c.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
        activities = c.get("/account/activities", {"activity_types": "FILL"})
        history = c.get_portfolio_history(GetPortfolioHistoryRequest(timeframe="1D"))

    assert order.created_at == created
    assert (done.status.value, float(done.filled_avg_price)) == ("filled", 102.0)
    assert done.filled_at == filled and done.filled_at >= done.created_at
    assert [o.filled_at for o in listed if o.id == order.id] == [filled]
    fill = next(u for u in updates if u.event == "fill")
    assert fill.timestamp == filled
    [activity] = activities
    assert pd.Timestamp(activity["transaction_time"]) == filled
    # the portfolio's daily points are the bars' days: the shares count from the fill's
    days = [str(pd.Timestamp(t, unit="s").date()) for t in history.timestamp]
    assert days == [first, str(filled.date())]
    assert history.equity == [100_000, 100_000 - 5 * 102 + 5 * 104]
