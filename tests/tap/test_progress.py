"""Unit tests of tap_amplitude.progress: the export progress line."""

from __future__ import annotations

import datetime as dt

from tap_amplitude.progress import ExportProgress
from tap_amplitude.windows import Window


def test_export_progress_line_says_window_i_of_n_events_so_far_and_rate() -> None:
    progress = ExportProgress(total_windows=2)
    first = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    progress.add(1500)
    progress.add(500)  # the second half of a split window
    line = progress.window_done(first)
    assert line.startswith("window 1 of 2 done [2026-01-01T00:00Z to 2026-01-01T23:59Z]: ")
    assert ": 2,000 events; 2,000 events so far" in line
    assert line.endswith(" events/s")
    second = Window(first.end, first.end + dt.timedelta(days=1))
    assert ": 0 events; 2,000 events so far" in progress.window_done(second)
