"""Sessions kept on disk for the day: read back the same, built again when the file is
unreadable, never in the way when the cache cannot be written, older days removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.data import session_cache
from workbench.data.sessions import _calendar, sessions


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    _calendar.cache_clear()
    yield tmp_path
    _calendar.cache_clear()


def refuse_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import exchange_calendars

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the calendar was built, not read")

    monkeypatch.setattr(exchange_calendars, "get_calendar", refused)


def same(a, b) -> bool:
    return (
        a.dates.equals(b.dates)
        and np.array_equal(a.opens, b.opens)
        and np.array_equal(a.closes, b.closes)
    )


def test_a_fresh_process_reads_what_the_first_built(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = sessions("XNYS", "2022-01-01", "2023-12-31")
    kept = session_cache.path_for("XNYS", 2022, root)
    assert kept.is_file() and len(list(kept.parent.iterdir())) == 1
    _calendar.cache_clear()  # as a fresh process
    refuse_to_build(monkeypatch)
    read = sessions("XNYS", "2022-01-01", "2023-12-31")
    assert same(read, built) and len(read) == 501  # 2022 and 2023: 251 + 250
    assert str(read.dates.tz) == "UTC" and read.dates.name == "time"


def test_an_unreadable_file_is_built_again_and_replaced(root: Path) -> None:
    built = sessions("XLON", "2024-01-01", "2024-06-30")
    kept = session_cache.path_for("XLON", 2024, root)
    kept.write_bytes(b"not an array")
    _calendar.cache_clear()
    assert same(sessions("XLON", "2024-01-01", "2024-06-30"), built)
    assert session_cache.load(kept) is not None
    np.save(kept, np.zeros((2, 5), dtype=np.int64))  # the wrong shape: a miss too
    assert session_cache.load(kept) is None


def test_a_cache_that_cannot_be_written_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("WORKBENCH_CACHE", str(blocked))
    _calendar.cache_clear()
    try:
        assert len(sessions("XNYS", "2024-01-01", "2024-01-31")) == 21
        assert list(tmp_path.iterdir()) == [blocked]
    finally:
        _calendar.cache_clear()


def test_a_new_day_replaces_the_calendars_older_files(root: Path) -> None:
    folder = root / "sessions"
    folder.mkdir()
    older = folder / "XNYS-2023-0.0-20200101.npy"
    other = folder / "XNYS-2022-0.0-20200101.npy"  # another first year: kept
    for path in (older, other):
        np.save(path, np.zeros((3, 1), dtype=np.int64))
    sessions("XNYS", "2023-03-01", "2023-03-31")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([other.name, session_cache.path_for("XNYS", 2023, root).name])
