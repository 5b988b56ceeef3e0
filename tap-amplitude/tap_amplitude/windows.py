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
    "HOUR",
    "Window",
    "ceil_hour",
    "export_range",
    "floor_hour",
    "next_window",
    "plan_windows",
]

MAX_EXPORT_HOURS = 365 * 24  # the Export API's longest range

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
    start_date: dt.datetime,
    end_date: dt.datetime | None,
    now: dt.datetime,
    lag_hours: int,
) -> tuple[dt.datetime, dt.datetime]:
    """The hours to export: ``[start, end)``; empty when ``start >= end``.

    ``start`` is the later of the bookmark and ``start_date`` (a start_date moved forward on
    purpose wins), floored to the hour so a bookmark mid-hour re-reads that hour rather than skip
    it. ``end`` is the newest complete hour (``now - lag_hours``) or ``end_date`` rounded up to a
    whole hour, whichever comes first.
    """
    start = floor_hour(start_date)
    if bookmark is not None:
        start = max(start, floor_hour(bookmark))
    end = floor_hour(now - dt.timedelta(hours=lag_hours))
    if end_date is not None:
        end = min(end, ceil_hour(end_date))
    return start, end


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
