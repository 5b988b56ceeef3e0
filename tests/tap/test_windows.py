"""Unit tests of tap_amplitude.windows: export windows, slice bounds, the bookmark and the re-read
point."""

from __future__ import annotations

import datetime as dt
import itertools

from tap_amplitude.settings import parse_settings
from tap_amplitude.windows import Window, export_range, plan_windows, reread_point

from tests.tap.units import BASE, hour


def test_windows_cover_the_range_without_gap_or_overlap() -> None:
    windows = list(plan_windows(hour("2026-01-01T00:00"), hour("2026-01-03T05:00"), 24))
    assert [w.hours for w in windows] == [24, 24, 5]
    assert windows[0].export_params == {"start": "20260101T00", "end": "20260101T23"}
    assert windows[-1].export_params == {"start": "20260103T00", "end": "20260103T04"}
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_halves_split_odd_windows_on_whole_hours() -> None:
    first, second = Window(hour("2026-01-01T00:00"), hour("2026-01-01T05:00")).halves()
    assert (first.hours, second.hours) == (3, 2)
    assert first.end == second.start


def _range(**overrides: object) -> tuple[dt.datetime, dt.datetime]:
    arguments: dict = {
        "bookmark": None,
        "reread_from": None,
        "start_date": hour("2026-01-01T00:00"),
        "end_date": None,
        "now": hour("2026-01-03T10:30"),
        "lag_hours": 3,
        **overrides,
    }
    return export_range(**arguments)


def test_the_default_margin_never_reads_an_hour_at_its_documented_availability() -> None:
    # Amplitude: hour H is exportable at H+3h. At 10:30 the 07:00 hour has been available for
    # 30 minutes only: the default (export_lag_hours=3) stops before it; 06:00 is read.
    assert parse_settings(BASE).export_lag_hours == 3
    assert _range() == (hour("2026-01-01T00:00"), hour("2026-01-03T07:00"))
    # At 10:00 exactly, 07:00 has just become available (H+3h): still not read.
    assert _range(now=hour("2026-01-03T10:00"))[1] == hour("2026-01-03T07:00")
    assert _range(now=hour("2026-01-03T11:00"))[1] == hour("2026-01-03T08:00")


def test_slice_bounds_off_the_hour_round_down_so_adjacent_slices_share_no_hour() -> None:
    cut = hour("2026-01-02T07:30")
    first = _range(end_date=cut)
    second = _range(start_date=cut, end_date=hour("2026-01-02T12:00"))
    assert first == (hour("2026-01-01T00:00"), hour("2026-01-02T07:00"))
    assert second == (hour("2026-01-02T07:00"), hour("2026-01-02T12:00"))
    hours = [w for r in (first, second) for w in plan_windows(*r, 1)]
    assert len(hours) == len({w.start for w in hours}) == 36  # every hour once


def test_start_date_later_than_the_bookmark_wins_and_a_mid_hour_bookmark_rereads_its_hour() -> None:
    now = hour("2026-02-01T00:00")
    start, _ = _range(
        bookmark=hour("2026-01-01T05:00"), start_date=hour("2026-01-10T00:00"), now=now
    )
    assert start == hour("2026-01-10T00:00")
    start, _ = _range(
        bookmark=hour("2026-01-12T05:00") + dt.timedelta(minutes=35),
        start_date=hour("2026-01-10T00:00"),
        now=now,
    )
    assert start == hour("2026-01-12T05:00")


def test_a_run_resumes_at_reread_from_when_it_is_before_the_bookmark() -> None:
    start, _ = _range(bookmark=hour("2026-01-03T07:00"), reread_from=hour("2026-01-03T05:00"))
    assert start == hour("2026-01-03T05:00")
    # start_date moved forward on purpose still wins
    start, _ = _range(
        bookmark=hour("2026-01-03T07:00"),
        reread_from=hour("2026-01-03T05:00"),
        start_date=hour("2026-01-03T06:00"),
    )
    assert start == hour("2026-01-03T06:00")


def test_reread_point_keeps_only_hours_read_while_recent() -> None:
    now = hour("2026-01-03T10:30")
    # read up to 07:00 at 10:30 with lag 3 + lookback 2: hours from 05:00 on were recent
    assert reread_point(
        run_start=hour("2026-01-01T00:00"),
        done_until=hour("2026-01-03T07:00"),
        now=now,
        settle_hours=5,
    ) == hour("2026-01-03T05:00")
    # a backfill slice long finished: nothing to read again, so a re-run requests nothing
    assert reread_point(
        run_start=hour("2025-01-01T00:00"),
        done_until=hour("2025-02-01T00:00"),
        now=now,
        settle_hours=5,
    ) == hour("2025-02-01T00:00")
    # never before the hours this run read itself
    assert reread_point(
        run_start=hour("2026-01-03T06:00"),
        done_until=hour("2026-01-03T07:00"),
        now=now,
        settle_hours=5,
    ) == hour("2026-01-03T06:00")
    assert reread_point(
        run_start=hour("2026-01-01T00:00"),
        done_until=hour("2026-01-03T07:00"),
        now=now,
        settle_hours=3,
    ) == hour("2026-01-03T07:00")  # lookback_hours=0


def test_windows_before_2014_11_12_are_day_grouped() -> None:
    assert Window(hour("2014-11-11T23:00"), hour("2014-11-12T01:00")).day_grouped
    assert not Window(hour("2014-11-12T00:00"), hour("2014-11-12T01:00")).day_grouped
