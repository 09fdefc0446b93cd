"""The bars format's helpers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from workbench.data.bars import check_ohlc, check_prices, check_tradable, check_values, epoch_ns
from workbench.errors import DataError


def test_epoch_ns_is_a_view_in_nanoseconds_and_converted_otherwise() -> None:
    """Nanosecond indexes give their own values (no copy of a 1M-bar index); other units
    are converted to the same nanoseconds."""
    ns = pd.date_range("2024-03-01 14:30", periods=5, freq="1min", tz="UTC").as_unit("ns")
    out = epoch_ns(ns)
    assert np.shares_memory(out, ns.asi8)
    assert out.tolist() == [t.value for t in ns]
    for unit in ("s", "ms", "us"):
        assert epoch_ns(ns.as_unit(unit)).tolist() == out.tolist()
    eastern = ns.tz_convert("America/New_York")
    assert epoch_ns(eastern).tolist() == out.tolist()


def _weekday_sessions(
    start: str, end: str, opens: float, hours: float, freq: str = "1min"
) -> pd.DatetimeIndex:
    """Bars of the sessions of each weekday from start to end, in UTC: each opens ``opens``
    hours after that day's New York midnight (negative: the evening before) for ``hours``."""
    out = []
    for day in pd.bdate_range(start, end):
        first = pd.Timestamp(day.date()).tz_localize("America/New_York")
        first += pd.Timedelta(hours=opens)
        out.append(
            pd.date_range(
                first, periods=round(hours * 3600 / pd.Timedelta(freq).seconds), freq=freq
            )
        )
    return out[0].append(out[1:]).tz_convert("UTC")


def test_sessions_running_past_midnight_utc_keep_an_exchanges_252_days() -> None:
    """A five-day market whose sessions cross midnight UTC has a few bars on a weekend day
    (UTC): New York's extended hours until 20:00 are after midnight UTC in winter, Friday's
    evening on Saturday; a futures week opens on Sunday evening. Those are the weekdays'
    sessions, not trading on weekends: 252 days a year, as the same bars in summer or
    counted in New York give (it was 365 in winter, a volatility and Sharpe ratio sqrt(365
    / 252) = 1.2 times too high). A market that trades every day still has 365, also from
    a few days' bars with gaps."""
    from workbench.data.bars import periods_per_year

    for freq, per_day in (("1min", 960), ("1h", 16)):
        winter = _weekday_sessions("2024-01-08", "2024-02-09", 4, 16, freq)  # 04:00-20:00
        summer = _weekday_sessions("2024-06-03", "2024-06-28", 4, 16, freq)
        assert (winter.day_of_week == 5).any()  # Friday's 19:00-20:00 New York
        for index in (
            winter,
            summer,
            *(winter.tz_convert(z) for z in ("America/New_York", "Europe/London")),
        ):
            assert periods_per_year(index) == per_day * 252.0, (freq, index[0])
    futures = _weekday_sessions("2024-01-08", "2024-02-09", -6, 23)  # 18:00 the day before
    assert (futures.day_of_week == 6).any()  # Sunday 23:00 UTC
    assert periods_per_year(futures) == 1380 * 252.0
    crypto = pd.date_range("2024-01-06", "2024-01-08", freq="1min", tz="UTC", inclusive="left")
    gappy = crypto.delete(np.random.default_rng(2).choice(len(crypto), 1000, replace=False))
    per_day = pd.Series(1, index=gappy).groupby(gappy.normalize()).size()
    assert periods_per_year(crypto) == 1440 * 365.0  # a Saturday and a Sunday
    assert periods_per_year(gappy) == per_day.median() * 365.0
    assert periods_per_year(crypto[crypto.day_of_week == 6]) == 1440 * 365.0
    # a thinly traded pair: a bar only for a minute with trades, fewer on weekends
    week = pd.date_range("2024-01-01", "2024-01-29", freq="1min", tz="UTC", inclusive="left")
    rng = np.random.default_rng(3)
    sparse = week[rng.random(len(week)) < np.where(week.day_of_week >= 5, 0.2, 0.6)]
    assert periods_per_year(sparse) == pytest.approx(0.6 * 1440 * 365, rel=0.02)


@pytest.mark.parametrize(
    ("freq", "per_year"),
    [
        ("W-FRI", 52.0),
        ("MS", 12.0),
        ("ME", 12.0),
        ("2MS", 6.0),
        ("QS", 4.0),
        ("QE", 4.0),
        ("6MS", 2.0),
        ("YS", 1.0),
        ("YE", 1.0),
        ("2YS", 0.5),
    ],
)
def test_bars_of_whole_months_count_their_months(freq: str, per_year: float) -> None:
    """Monthly bars are 12 a year, quarterly 4, yearly 1: each bar a whole number of months
    (a quarter's 90-92 days, a year's 365 or 366), with or without the index's frequency
    set. Every bar of 25 days or more counted 12, so a quarterly curve's volatility and
    Sharpe ratio were annualised as if it had 12 returns a year (sqrt(3) too high)."""
    from workbench.data.bars import periods_per_year

    index = pd.date_range("2001-01-01", "2024-12-31", freq=freq, tz="UTC")
    for given in (index, pd.DatetimeIndex(index.tolist())):  # freq set, and not
        assert periods_per_year(given) == per_year, (freq, given.freq)


def test_check_prices_names_the_first_bar_at_or_below_zero_and_lets_nan_pass() -> None:
    index = pd.date_range("2024-01-02", periods=4, freq="1D", tz="UTC")
    frame = pd.DataFrame(
        {"open": [1.0, np.nan, 1.0, 1.0], "high": [2.0, 2.0, 2.0, 2.0],
         "low": [0.5, 0.5, 0.0, -1.0], "close": [1.5, 1.5, 1.5, 1.5], "volume": 10.0},
        index=index,
    )  # fmt: skip
    frame.attrs["source"] = "csv:x.csv"
    with pytest.raises(DataError) as refused:
        check_prices(frame, name="X")
    assert str(refused.value).startswith(
        "X (csv:x.csv): 2 bar(s) with a price at or below zero, the first at "
        "2024-01-04 00:00:00+00:00: low 0 (correct or remove those rows"
    )
    check_prices(frame.iloc[:2], name="X")  # a missing open is data check's, not this


def _one_bar(o: float, h: float, lo: float, c: float) -> pd.DataFrame:
    index = pd.date_range("2024-01-02", periods=3, freq="1D", tz="UTC")
    frame = pd.DataFrame(
        {"open": [1.0, o, 1.0], "high": [2.0, h, 2.0], "low": [0.5, lo, 0.5],
         "close": [1.5, c, 1.5], "volume": 10.0},
        index=index,
    )  # fmt: skip
    frame.attrs["source"] = "csv:x.csv"
    return frame


@pytest.mark.parametrize(
    ("bar", "shown", "rule"),
    [
        ((1.0, 0.5, 2.0, 1.0), "open 1 high 0.5 low 2 close 1", "high below low, open above "
         "high, close above high, open below low, close below low"),
        ((2.5, 2.0, 0.5, 1.5), "open 2.5 high 2 low 0.5 close 1.5", "open above high"),
        ((1.0, 2.0, 0.5, 2.00001), "open 1 high 2 low 0.5 close 2.00001",
         "close above high"),  # past the 1e-9 allowed for rounding in adjusted data
        ((0.4, 2.0, 0.5, 1.5), "open 0.4 high 2 low 0.5 close 1.5", "open below low"),
        ((1.0, 2.0, 0.5, 0.25), "open 1 high 2 low 0.5 close 0.25", "close below low"),
    ],
    ids=["high-below-low", "open-above", "close-above", "open-below", "close-below"],
)  # fmt: skip
def test_check_ohlc_names_the_first_bad_bar_its_prices_and_the_rule_it_breaks(
    bar: tuple[float, float, float, float], shown: str, rule: str
) -> None:
    """A stop or limit filled at a price the bar never traded: now refused, with the fix."""
    with pytest.raises(DataError) as refused:
        check_tradable(_one_bar(*bar), name="X")
    assert str(refused.value) == (
        "X (csv:x.csv): 1 bar(s) with open, high, low and close that disagree, the first at "
        f"2024-01-03 00:00:00+00:00: {shown}: {rule} (correct or remove those rows "
        "(workbench data check SPEC lists them; in Python: workbench.clean(bars, "
        "CleanPolicy(drop_invalid=True))))"
    )


def test_check_ohlc_counts_every_bad_bar_and_lets_nan_and_flat_bars_pass() -> None:
    frame = _one_bar(2.5, 2.0, 0.5, 1.5)
    frame.iloc[2, frame.columns.get_loc("low")] = 1.6  # above the close: the second
    with pytest.raises(DataError, match=r"^X \(csv:x.csv\): 2 bar\(s\) .* first at 2024-01-03"):
        check_ohlc(frame, name="X")
    check_ohlc(_one_bar(1.0, 1.0, 1.0, 1.0), name="X")  # open = high = low = close
    for column in ("open", "high", "low", "close"):  # a missing price is data check's
        frame = _one_bar(1.0, 2.0, 0.5, 1.5)
        frame.iloc[1, frame.columns.get_loc(column)] = np.nan
        check_tradable(frame, name="X")


@pytest.mark.parametrize("row", [0, (1 << 14) - 1, 1 << 14, 39_999])
@pytest.mark.parametrize(
    ("column", "value", "refusal"),
    [("low", 0.0, "at or below zero"), ("open", 2.5, "disagree"), ("close", 0.25, "disagree"),
     ("high", 0.4, "disagree"), ("low", 1.75, "disagree")],
)  # fmt: skip
def test_check_values_finds_a_bad_bar_in_any_chunk(
    row: int, column: str, value: float, refusal: str
) -> None:
    """Clean bars are told in chunks of rows (one pass, no frame-sized arrays): a bad bar
    first, last or on either side of a chunk's edge is still refused, by the check that
    names it; clean bars, and NaN prices (not judged here), still pass."""
    index = pd.date_range("2024-01-02", periods=40_000, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}, index=index
    )
    check_values(frame, name="X")
    bad = frame.copy()
    bad.iloc[row, bad.columns.get_loc(column)] = value
    first = re.escape(str(index[row]))
    with pytest.raises(DataError, match=f"^X: 1 bar\\(s\\) .*{refusal}, the first at {first}:"):
        check_values(bad, name="X")
    gap = frame.copy()
    gap.iloc[row, gap.columns.get_loc(column)] = np.nan
    check_values(gap, name="X")
