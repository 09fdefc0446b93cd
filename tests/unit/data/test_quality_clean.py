"""clean(): changes only what the policy asks and reports every change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.data.bars import check_tradable
from workbench.data.quality import CleanPolicy, clean, validate
from workbench.errors import ConfigError, DataError


def test_default_policy_changes_nothing(make_bars):
    bars = make_bars()
    bars = pd.concat([bars.iloc[:3], bars.iloc[2:]]).iloc[[0, 2, 1, 3, 4, 5, 6, 7, 8]]
    bars.iloc[5, 0] = np.nan
    out, report = clean(bars)
    pd.testing.assert_frame_equal(out, bars)
    assert not report.changed
    assert (report.rows_before, report.rows_after) == (9, 9)
    assert "no changes" in str(report)
    assert out is not bars


def test_sort_reports_moved_rows(make_bars):
    bars = make_bars()
    shuffled = bars.iloc[[0, 2, 1, 3, 4, 5, 6, 7]]
    out, report = clean(shuffled, CleanPolicy(sort=True))
    pd.testing.assert_frame_equal(out, bars, check_freq=False)
    (change,) = report.changes
    assert change.action == "sort"
    assert change.timestamps == (bars.index[1], bars.index[2])


@pytest.mark.parametrize(("keep", "volume"), [("first", 1000.0), ("last", 7.0)])
def test_drop_duplicates_keeps_the_asked_row(make_bars, keep, volume):
    bars = make_bars(n=4)
    extra = bars.iloc[[1]].assign(volume=7.0)
    doubled = pd.concat([bars.iloc[:2], extra, bars.iloc[2:]])
    out, report = clean(doubled, CleanPolicy(drop_duplicates=keep))
    assert out.index.equals(bars.index)
    assert out["volume"].iloc[1] == volume
    (change,) = report.changes
    assert (change.action, change.rows, change.timestamps) == (
        "drop_duplicates",
        1,
        (bars.index[1],),
    )
    assert change.to_dict()["timestamps"] == [bars.index[1].isoformat()]


def test_ffill_fills_short_runs_only(make_bars):
    bars = make_bars(n=10, start="2024-02-05")
    bars.iloc[2] = np.nan  # a one-bar hole: filled
    bars.iloc[5:8] = np.nan  # a three-bar hole: longer than the limit, left alone
    out, report = clean(bars, CleanPolicy(ffill_missing=2))
    prev_close = bars["close"].iloc[1]
    row = out.iloc[2]
    assert (row["open"], row["high"], row["low"], row["close"]) == (prev_close,) * 4
    assert row["volume"] == 0.0
    assert out.iloc[5:8].isna().all().all()
    actions = {c.action: c for c in report.changes}
    assert actions["ffill_missing"].timestamps == (bars.index[2],)
    assert actions["ffill_skipped"].rows == 3
    # the filled bar is consistent; it has no volume, which validate warns about
    assert validate(out.drop(out.index[5:8])).checks() == {"gaps", "zero_volume"}


def test_ffill_partial_row_stays_consistent(make_bars):
    bars = make_bars(n=4)
    bars.loc[bars.index[2], ["open", "high"]] = np.nan
    out, report = clean(bars, CleanPolicy(ffill_missing=1))
    row = out.iloc[2]
    assert row["open"] == bars["close"].iloc[1]
    assert row["high"] == max(row["open"], row["close"])
    assert row["close"] == bars["close"].iloc[2]  # present values kept
    assert validate(out).ok
    assert [c.action for c in report.changes] == ["ffill_missing"]


def test_ffill_cannot_fill_the_first_row(make_bars):
    bars = make_bars(n=4)
    bars.iloc[0] = np.nan
    out, report = clean(bars, CleanPolicy(ffill_missing=5))
    assert out.iloc[0].isna().all()
    assert [c.action for c in report.changes] == ["ffill_skipped"]


def test_drop_missing_and_drop_invalid(make_bars):
    bars = make_bars()
    bars.iloc[1, bars.columns.get_loc("volume")] = np.nan
    bars.iloc[3, bars.columns.get_loc("low")] = -1.0
    bars.iloc[5, bars.columns.get_loc("high")] = 50.0
    out, report = clean(bars, CleanPolicy(drop_missing=True, drop_invalid=True))
    assert list(out.index) == list(bars.index.delete([1, 3, 5]))
    assert [(c.action, c.rows) for c in report.changes] == [
        ("drop_missing", 1),
        ("drop_invalid", 2),
    ]
    assert report.rows_after == 5
    assert out.attrs == bars.attrs
    assert "drop_invalid" in str(report)
    assert report.to_dict()["rows_after"] == 5


def test_drop_invalid_drops_exactly_the_bars_a_backtest_refuses(make_bars):
    """One OHLC rule: a close a ten-thousandth above its high is listed by ``data check``,
    dropped by ``drop_invalid`` and refused by every trading path; one an ulp above it (the
    rounding adjusted data leaves) passes all three (relative tolerance 1e-9)."""
    bars = make_bars()
    high = bars.iloc[3, bars.columns.get_loc("high")]
    rounded = bars.copy()
    rounded.iloc[3, bars.columns.get_loc("close")] = np.nextafter(high, np.inf)  # one ulp above
    check_tradable(rounded, name="TEST")
    assert not [i for i in validate(rounded).issues if i.check == "ohlc"]
    assert len(clean(rounded, CleanPolicy(drop_invalid=True))[0]) == len(bars)
    bars.iloc[3, bars.columns.get_loc("close")] = high + 0.0001
    with pytest.raises(DataError, match=r"close 104\.5001: close above high"):
        check_tradable(bars, name="TEST")
    (ohlc,) = [i for i in validate(bars).issues if i.check == "ohlc"]
    assert ohlc.rows == (3,)
    out, report = clean(bars, CleanPolicy(drop_invalid=True))
    assert list(out.index) == list(bars.index.delete([3]))
    assert [(c.action, c.rows) for c in report.changes] == [("drop_invalid", 1)]
    check_tradable(out, name="TEST")


def test_bad_policy_and_bad_frame():
    with pytest.raises(ConfigError):
        CleanPolicy(drop_duplicates="middle")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        CleanPolicy(ffill_missing=-1)
    with pytest.raises(DataError, match="volume"):
        clean(pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}))
