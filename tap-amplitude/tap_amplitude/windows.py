"""Plan Export API windows (pure functions).

A window is a half-open range of whole UTC hours ``[start, end)`` of ``server_upload_time``. The
Export API takes both ends inclusive as ``YYYYMMDDTHH``, so a window asks for ``start`` to
``end - 1h``. The bookmark of the events stream is the ``end`` of the last finished window: every
event uploaded before it has been emitted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DAY_GROUPED_BEFORE",
    "HOUR",
    "Window",
    "ceil_hour",
    "export_range",
    "floor_hour",
    "next_window",
    "plan_windows",
    "reread_point",
]

MAX_EXPORT_HOURS = 365 * 24  # the Export API's longest range
# "Events before November 12, 2014 are grouped by day, instead of by the hour." (Export API docs)
DAY_GROUPED_BEFORE = dt.datetime(2014, 11, 12, tzinfo=dt.UTC)

HOUR = dt.timedelta(hours=1)


def floor_hour(value: dt.datetime) -> dt.datetime:
    """The start of the UTC hour holding ``value`` (aware, UTC)."""
    value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: dt.datetime) -> dt.datetime:
    """The first whole UTC hour at or after ``value``."""
    floored = floor_hour(value)
    return floored if floored == value.astimezone(dt.UTC) else floored + HOUR


def _export_hour(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H")


@dataclass(frozen=True)
class Window:
    """Whole UTC hours ``[start, end)`` of server_upload_time."""

    start: dt.datetime
    end: dt.datetime

    @property
    def hours(self) -> int:
        """Number of hours in the window."""
        return int((self.end - self.start) / HOUR)

    @property
    def day_grouped(self) -> bool:
        """Whether Amplitude may answer with whole days (hours before 2014-11-12)."""
        return self.start < DAY_GROUPED_BEFORE

    @property
    def export_params(self) -> dict[str, str]:
        """The Export API's ``start``/``end`` query parameters (both hours inclusive)."""
        return {"start": _export_hour(self.start), "end": _export_hour(self.end - HOUR)}

    def halves(self) -> tuple[Window, Window]:
        """Split into two windows of whole hours (the first one takes the odd hour)."""
        middle = self.start + HOUR * ((self.hours + 1) // 2)
        return Window(self.start, middle), Window(middle, self.end)

    def __str__(self) -> str:
        last = self.end - HOUR
        if self.hours == 1:
            return f"hour {self.start:%Y-%m-%dT%H}:00Z (export start={_export_hour(self.start)})"
        return (
            f"{self.start:%Y-%m-%dT%H}:00Z to {last:%Y-%m-%dT%H}:59Z "
            f"(export start={_export_hour(self.start)} end={_export_hour(last)})"
        )


def export_range(
    *,
    bookmark: dt.datetime | None,
    reread_from: dt.datetime | None,
    start_date: dt.datetime,
    end_date: dt.datetime | None,
    now: dt.datetime,
    lag_hours: int,
) -> tuple[dt.datetime, dt.datetime]:
    """The hours to export: ``[start, end)``; empty when ``start >= end``.

    Both bounds fall on whole UTC hours, both rounded down: an hour belongs to the run (or
    backfill slice) whose ``[start_date, end_date)`` holds the hour's first instant rounded down,
    so two slices meeting at any instant never read the same hour and never skip one.

    ``start`` is the later of ``start_date`` and the state's resume point (a start_date moved
    forward on purpose wins). The resume point is the bookmark, or ``reread_from`` when that is
    earlier: the first hour that was still recent when it was read (see :func:`reread_point`).
    ``end`` is the newest hour Amplitude has finished with a margin (``now - lag_hours``), or
    ``end_date``, whichever comes first.
    """
    start = floor_hour(start_date)
    if bookmark is not None:
        resume = bookmark if reread_from is None else min(bookmark, reread_from)
        start = max(start, floor_hour(resume))
    end = floor_hour(now - dt.timedelta(hours=lag_hours))
    if end_date is not None:
        end = min(end, floor_hour(end_date))
    return start, end


def reread_point(
    *, run_start: dt.datetime, done_until: dt.datetime, now: dt.datetime, settle_hours: int
) -> dt.datetime:
    """The first hour the next run must read again, after this run read ``[run_start,
    done_until)`` at ``now``.

    An hour read when it had been over for ``settle_hours`` hours or more (``export_lag_hours``
    plus ``lookback_hours``) is settled: Amplitude had finished it, with margin and look-back. A
    younger one may have been read while Amplitude was still loading it (a 404 or part of its
    events), so the next run reads it again. Equal to ``done_until`` when nothing needs it.
    """
    settled = floor_hour(now - dt.timedelta(hours=settle_hours))
    return max(run_start, min(done_until, settled))


def next_window(cursor: dt.datetime, end: dt.datetime, hours: int) -> Window:
    """The window of at most ``hours`` hours starting at ``cursor``, clipped to ``end``."""
    return Window(cursor, min(cursor + HOUR * hours, end))


def plan_windows(start: dt.datetime, end: dt.datetime, hours: int) -> Iterator[Window]:
    """Consecutive windows of at most ``hours`` hours covering ``[start, end)``."""
    current = start
    while current < end:
        window = next_window(current, end, hours)
        yield window
        current = window.end
