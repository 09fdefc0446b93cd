"""Split boundaries: no train/test overlap, gaps respected, anchored versus rolling."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.research.splits import NoFoldError, holdout, parse_length, walk_forward

DAILY = pd.date_range("2020-01-01", periods=100, freq="D", tz="UTC")
BUSINESS = pd.bdate_range("2015-01-01", "2020-12-31", tz="UTC")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (756, 756),
        ("756", 756),
        ("756bars", 756),
        ("3y", pd.DateOffset(years=3)),
        ("6mo", pd.DateOffset(months=6)),
        ("2w", pd.DateOffset(weeks=2)),
        ("90d", pd.DateOffset(days=90)),
        ("12h", pd.DateOffset(hours=12)),
        ("30min", pd.DateOffset(minutes=30)),
        (pd.Timedelta(days=2), pd.DateOffset(seconds=172800)),
    ],
)
def test_parse_length(text: object, expected: object) -> None:
    assert parse_length(text) == expected


@pytest.mark.parametrize("bad", ["3x", "-5", "", "1.5y", 0, "0", True, 2.5, None])
def test_parse_length_refuses(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"length|positive"):
        parse_length(bad)


def test_rolling_folds_by_hand() -> None:
    # 100 bars, train 30, test 20, step 20 (the default): folds at 0, 20, 40 (the fourth
    # would need bars up to 110)
    folds = walk_forward(DAILY, 30, 20)
    assert [(f.train.start, f.train.stop, f.test.start, f.test.stop) for f in folds] == [
        (0, 30, 30, 50),
        (20, 50, 50, 70),
        (40, 70, 70, 90),
    ]
    assert [f.number for f in folds] == [0, 1, 2]
    assert folds[0].train.first == DAILY[0] and folds[0].train.last == DAILY[29]
    assert folds[0].test.first == DAILY[30] and folds[0].test.last == DAILY[49]


def test_anchored_folds_grow_from_the_first_bar() -> None:
    folds = walk_forward(DAILY, 30, 20, anchored=True)
    assert [(f.train.start, f.train.stop) for f in folds] == [(0, 30), (0, 50), (0, 70)]
    assert [(f.test.start, f.test.stop) for f in folds] == [(30, 50), (50, 70), (70, 90)]
    rolling = walk_forward(DAILY, 30, 20)
    assert [f.test for f in folds] == [f.test for f in rolling]


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(("train", "test", "step", "gap"), [(30, 20, None, 5), (25, 10, 7, 3)])
def test_gap_and_no_overlap(anchored: bool, train: int, test: int, step, gap: int) -> None:
    folds = walk_forward(DAILY, train, test, step=step, gap=gap, anchored=anchored)
    assert folds
    for f in folds:
        assert f.gap == gap
        assert f.train.stop + gap == f.test.start  # exactly `gap` bars purged
        assert f.train.last < f.test.first  # nothing of the test window is trained on
        assert f.test.bars == test
        assert f.test.stop <= len(DAILY)
        assert f.train.bars == (f.train.stop if anchored else train)
    starts = [f.test.start for f in folds]
    assert all(b - a == (step or test) for a, b in itertools.pairwise(starts))


def test_step_smaller_than_test_overlaps_test_windows_only() -> None:
    folds = walk_forward(DAILY, 40, 20, step=10)
    assert len(folds) == 5  # test windows start at 40, 50, 60, 70, 80
    assert folds[1].test.start < folds[0].test.stop


def test_time_windows_on_business_days() -> None:
    folds = walk_forward(BUSINESS, "2y", "1y")
    assert len(folds) == 4  # tests 2017, 2018, 2019, 2020
    for k, f in enumerate(folds):
        start = pd.Timestamp(f"{2015 + k}-01-01", tz="UTC")
        assert f.train.first == BUSINESS[start <= BUSINESS][0]
        assert f.train.last < start + pd.DateOffset(years=2) <= f.test.first
        assert f.test.first.year == f.test.last.year == 2017 + k
        assert f.train.stop == f.test.start


def test_time_windows_anchored_with_a_time_gap() -> None:
    folds = walk_forward(BUSINESS, "2y", "1y", anchored=True, gap="10d")
    assert all(f.train.start == 0 for f in folds)
    for f in folds:
        assert f.test.first - f.train.last > pd.Timedelta(days=10)
        assert f.test.first >= f.train.last + pd.Timedelta(days=1) + pd.DateOffset(days=10)
    assert [f.train.stop for f in folds] == sorted({f.train.stop for f in folds})


def test_time_windows_with_a_gap_in_bars() -> None:
    folds = walk_forward(BUSINESS, "2y", "1y", gap=5)
    assert all(f.gap == 5 for f in folds)


def test_a_time_gap_in_bar_windows() -> None:
    folds = walk_forward(DAILY, 30, 20, gap="3d")
    assert all(f.test.first - f.train.last == pd.Timedelta(days=4) for f in folds)


# business days with holidays: a span of days holds a varying number of bars
HOLIDAYS = BUSINESS.delete([i for i, t in enumerate(BUSINESS) if t.day in (1, 25)])


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(
    ("index", "train", "test", "gap"),
    [
        (HOLIDAYS, 252, 21, "3d"),  # bars, with a purge in time
        (HOLIDAYS, 252, 21, "10d"),
        (HOLIDAYS, "1y", "3mo", 2),  # time, with a purge in bars
        (HOLIDAYS, "1y", "1w", 0),  # years on 29 February, weeks after it
        (HOLIDAYS[HOLIDAYS >= "2015-01-30"], "1y", "1mo", 0),  # from a month's end
        (HOLIDAYS[HOLIDAYS >= "2015-01-30"], "1y", "1mo", "5d"),
    ],
)
def test_test_windows_tile_the_data_whatever_the_units(
    index: pd.DatetimeIndex, train, test, gap, anchored: bool
) -> None:
    """step defaults to test: each test window starts where the last one ended (no bar tested
    twice, none skipped), and every fold purges what it was asked to."""
    folds = walk_forward(index, train, test, gap=gap, anchored=anchored)
    assert len(folds) > 3
    for a, b in itertools.pairwise(folds):
        assert b.test.start == a.test.stop
    for f in folds:
        assert f.train.stop <= f.test.start
        if isinstance(gap, int):
            assert f.gap == gap
        else:
            days = pd.Timedelta(days=int(gap.removesuffix("d")))
            assert f.test.first - f.train.last > days
            if isinstance(train, int):  # no more purged than asked for
                assert index[f.train.stop] >= f.test.first - days
        if isinstance(train, int):
            assert f.train.bars == (f.train.stop if anchored else train)
        if isinstance(test, int):
            assert f.test.bars == test


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": 80, "test": 30}, "no complete fold"),
        ({"train": "2y", "test": 20}, "mix bars and time"),
        ({"train": 0, "test": 10}, "positive"),
        ({"train": 10, "test": 10, "gap": -1}, "gap=-1 must be a number of bars >= 0"),
    ],
)
def test_walk_forward_refuses(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        walk_forward(DAILY, **kwargs)


#: A refusal for want of data, in the Python names with what the data holds and the first
#: fold needs (before: "train=80 + gap=0 + test=30 does not fit in 100 bars", a sum left to
#: the reader, and one bar refused as "splits need at least two bars").
NO_FOLD = "no complete fold: the data holds 100 bars from 2020-01-01 to 2020-04-09; "


@pytest.mark.parametrize(
    ("index", "kwargs", "line"),
    [
        (DAILY, {"train": 80, "test": 30},
         f"{NO_FOLD}train=80 + test=30 needs 110 (shorten train/test or give more bars)"),
        (DAILY, {"train": 60, "test": 30, "gap": 15, "step": 40, "anchored": True},
         f"{NO_FOLD}train=60 + gap=15 + test=30 needs 105 (shorten train/gap/test or give "
         "more bars)"),
        (DAILY, {"train": "3mo", "test": "1mo"},
         f"{NO_FOLD}train='3mo' + test='1mo' needs data to 2020-05-01 (shorten train/test or "
         "give more bars)"),
        (DAILY, {"train": 60, "test": 30, "gap": "2w"},
         f"{NO_FOLD}train=60 + gap='2w' + test=30 needs 90 bars with 2w between them (shorten "
         "train/gap/test or give more bars)"),
        (DAILY, {"train": "12h", "test": "12h"},
         f"{NO_FOLD}train='12h' + test='12h' leave a train or test window without a bar (give "
         "windows longer than the bars' spacing (1 day))"),
        (DAILY[:1], {"train": 5, "test": 5},
         "no complete fold: the data holds 1 bar, on 2020-01-01; train=5 + test=5 needs 10 "
         "(shorten train/test or give more bars)"),
    ],
)  # fmt: skip
def test_walk_forward_says_what_the_data_holds_and_the_first_fold_needs(
    index: pd.DatetimeIndex, kwargs: dict, line: str
) -> None:
    with pytest.raises(NoFoldError) as caught:
        walk_forward(index, **kwargs)
    assert str(caught.value) == line
    flags = caught.value.worded(flags=True, more="widen --start/--end")
    assert isinstance(flags, ConfigError) and "train=" not in str(flags)
    assert "--train" in str(flags)


def test_walk_forward_needs_a_sorted_datetime_index() -> None:
    with pytest.raises(ConfigError, match="DatetimeIndex"):
        walk_forward(pd.RangeIndex(100), 10, 10)
    with pytest.raises(ConfigError, match="out of order"):
        walk_forward(DAILY[::-1], 10, 10)


@pytest.mark.parametrize(
    ("test", "gap", "train_stop", "test_start"),
    [
        (0.3, 0, 70, 70),
        (0.25, 5, 70, 75),
        (20, 0, 80, 80),
        ("10d", 2, 88, 90),
        ("10d", "2d", 88, 90),
    ],
)
def test_holdout(test: object, gap: object, train_stop: int, test_start: int) -> None:
    fold = holdout(DAILY, test, gap=gap)
    assert (fold.train.start, fold.train.stop) == (0, train_stop)
    assert (fold.test.start, fold.test.stop) == (test_start, 100)


def test_holdout_refuses_an_empty_side() -> None:
    with pytest.raises(ConfigError, match="no train or no test"):
        holdout(DAILY, 100)
    with pytest.raises(ConfigError, match="fraction"):
        holdout(DAILY, 1.5)


def test_windows_slice_frames_and_serialise() -> None:
    frame = pd.DataFrame({"close": range(100)}, index=DAILY)
    fold = walk_forward(DAILY, 30, 20)[1]
    assert fold.train.slice(frame)["close"].tolist() == list(range(20, 50))
    doc = fold.to_dict()
    assert doc["train"]["first"] == DAILY[20].isoformat()
    assert doc["test"]["bars"] == 20 and doc["gap"] == 0
