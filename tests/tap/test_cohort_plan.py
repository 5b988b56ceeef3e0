"""Unit tests of tap_amplitude.cohort_plan: which cohorts to download, epoch units, poll delays."""

from __future__ import annotations

import datetime as dt

from tap_amplitude.cohort_plan import Cohort, epoch_to_datetime, plan_downloads, poll_delay


def test_cohort_plan_recomputed_only_waiting_longest_first_within_the_limit() -> None:
    def at(day: int) -> dt.datetime:
        return dt.datetime(2026, 1, day, tzinfo=dt.UTC)

    cohorts = [
        Cohort("a", "A", at(5), archived=False),  # recomputed after its bookmark
        Cohort("b", "B", at(3), archived=False),  # unchanged
        Cohort("c", "C", at(4), archived=False),  # never downloaded
        Cohort("d", "D", at(6), archived=True),  # archived: not by default
        Cohort("e", "E", None, archived=False),  # never computed
        Cohort("f", "F", at(9), archived=False),  # recomputed, downloaded longer ago than a
    ]
    bookmarks = {"a": at(2), "b": at(3), "f": at(1)}
    plan = plan_downloads(cohorts, wanted_ids=None, bookmarks=bookmarks, incremental=True, limit=2)
    assert [c.id for c in plan.download] == ["c", "f"]
    assert [c.id for c in plan.over_limit] == ["a"]
    assert [c.id for c in plan.unchanged] == ["b"]
    assert [c.id for c in plan.archived] == ["d"]
    assert [c.id for c in plan.never_computed] == ["e"]
    chosen = plan_downloads(
        cohorts, wanted_ids=("d", "b", "zz"), bookmarks=bookmarks, incremental=False, limit=5
    )
    assert sorted(c.id for c in chosen.download) == ["b", "d"]  # listed: archived too
    assert chosen.unknown_ids == ["zz"]


def test_last_computed_in_seconds_or_milliseconds() -> None:
    seconds = epoch_to_datetime(1679440233)
    assert seconds == epoch_to_datetime(1679440233000)
    assert seconds == dt.datetime(2023, 3, 21, 23, 10, 33, tzinfo=dt.UTC)
    assert epoch_to_datetime(None) is None
    assert epoch_to_datetime("soon") is None
    assert [poll_delay(n, 1, 60) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
