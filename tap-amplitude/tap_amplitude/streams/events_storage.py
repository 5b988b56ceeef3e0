"""The events stream's second source: the files of Amplitude's S3 / GCS export.

The same records as the Export API path, by construction: each exported file is spooled as the
archive the Export API path reads (:mod:`tap_amplitude.storage.spool`) and goes through the
stream's own ``_records`` (decompression in the worker process, msgspec parsing, timestamp
normalisation, the direct RECORD line). The same hours and bookmarks too: the range comes from
:func:`~tap_amplitude.windows.export_range` (``start_date``/``end_date`` slices,
``export_lag_hours``) and each hour is finished by ``_finish_window`` (``lookback_hours``'s
``reread_from``), one hour at a time, only after all its files were read whole.

One more rule, for a source written by a batch job: the run ends at the newest hour Amplitude has
written files (or a `complete` label) for, whatever the clock says. Amplitude's docs: "Exports
typically run hourly and contain one hour of data, but may run less frequently and contain
multiple hours of data" (amazon-s3.md): an export running late leaves hours not yet written,
which a clock-only rule would mark done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_amplitude import clock
from tap_amplitude.errors import AmplitudeError, CorruptExportError
from tap_amplitude.export_prefetch import downloads_ahead
from tap_amplitude.fast_path import bulk_allocation_gc
from tap_amplitude.progress import ExportProgress
from tap_amplitude.storage.listing import HourFiles
from tap_amplitude.storage.naming import ExportObject, FileKind
from tap_amplitude.windows import HOUR, Window, export_range, floor_hour

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_amplitude.export_reader import ExportArchive
    from tap_amplitude.storage.source import ExportStorage

__all__ = ["StorageFileError", "hours_to_read", "read_items"]


class StorageFileError(AmplitudeError):
    """An exported file cannot be decompressed or parsed; the message names it."""


@dataclass(frozen=True)
class ReadItem:
    """One step of a storage read: a file of an hour, or an hour without files."""

    window: Window
    file: ExportObject | None
    last_of_hour: bool


def read_items(hours: Iterable[HourFiles]) -> Generator[ReadItem, None, None]:
    """The files of ``hours`` in order (an hour without files: one item without a file)."""
    for hour in hours:
        if not hour.files:
            yield ReadItem(hour.window, None, last_of_hour=True)
        for index, item in enumerate(hour.files):
            yield ReadItem(hour.window, item, last_of_hour=index == len(hour.files) - 1)


def hours_to_read(
    start: dt.datetime, end: dt.datetime, frontier: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` capped at the export's ``frontier`` (None: nothing written yet)."""
    if frontier is None:
        return start, start
    return start, max(start, min(end, frontier))


class StorageEventsSource:
    """Mixin of :class:`~tap_amplitude.streams.events.EventsStream`: ``export_source: storage``.

    Relies on the stream's members shared with the Export API path: ``settings``, ``logger``,
    ``_saved_time``, ``_finish_window``, ``_records``, ``_log_slice_bounds`` and the run's
    ``_progress``, ``_run_start``, ``_resumed_bookmark``.
    """

    settings: Any
    logger: Any
    _progress: ExportProgress
    _run_start: dt.datetime | None
    _resumed_bookmark: dt.datetime | None
    _amplitude_tap: Any
    _saved_time: Callable[[str], dt.datetime | None]
    _finish_window: Callable[[Window], None]
    _records: Callable[[ExportArchive], Generator[dict[str, Any], None, int]]
    _log_slice_bounds: Callable[[dt.datetime, dt.datetime | None], None]
    ABORT_AT_RECORD_COUNT: int | None

    def _storage_records(
        self,
        context: Context | None,  # noqa: ARG002 - as get_records
    ) -> Generator[dict[str, Any], None, None]:
        """Events of every finished, exported hour from the bookmark (or start_date) on."""
        settings = self.settings
        storage: ExportStorage = self._amplitude_tap.export_storage
        bookmark = self._saved_time("replication_key_value")
        self._resumed_bookmark = bookmark
        start, end = export_range(
            bookmark=bookmark,
            reread_from=self._saved_time("reread_from"),
            start_date=settings.start_date,
            end_date=settings.end_date,
            now=clock.utc_now(),
            lag_hours=settings.export_lag_hours,
        )
        self._log_slice_bounds(settings.start_date, settings.end_date)
        listing = storage.listing
        frontier = listing.frontier(FileKind.EVENTS)
        first = min(listing.events, default=None)
        if bookmark is None and settings.start_date_is_default and first is not None:
            start = max(start, first)  # no need to walk empty hours from 2012
        start, capped = hours_to_read(start, end, frontier)
        if capped < end:
            self.logger.info(
                "events: %s has no file for the hours from %s on (the export's newest hour "
                "with files is %s): they are read once Amplitude writes them",
                storage.location,
                f"{capped:%Y-%m-%dT%H}:00Z",
                f"{frontier - HOUR:%Y-%m-%dT%H}:00Z" if frontier else "none",
            )
        end = capped
        if start >= end:
            self.logger.warning(
                "events: nothing to read from %s: no finished, exported hour from %s on.",
                storage.location,
                f"{start:%Y-%m-%dT%H}:00Z",
            )
            return
        if self.ABORT_AT_RECORD_COUNT is not None:  # --test: the newest hour only
            start = max(start, end - HOUR)
        if bookmark is not None and start < floor_hour(bookmark):
            self.logger.info(
                "events: reading again %s:00Z to %s:00Z, read while recent by the last run "
                "(lookback_hours=%d); their events are emitted again with the same uuid",
                f"{start:%Y-%m-%dT%H}",
                f"{floor_hour(bookmark):%Y-%m-%dT%H}",
                settings.lookback_hours,
            )
        self._run_start = start
        hours = list(listing.hours(FileKind.EVENTS, start, end))
        self.logger.info(
            "events: reading %s:00Z to %s:00Z from %s: %d file(s), %.1f MB",
            f"{start:%Y-%m-%dT%H}",
            f"{end:%Y-%m-%dT%H}",
            storage.location,
            sum(len(h.files) for h in hours),
            sum(f.size for h in hours for f in h.files) / 1e6,
        )
        self._progress = ExportProgress(total_windows=len(hours))

        def fetch(item: ReadItem) -> Callable[[], ExportArchive | None]:
            file = item.file
            return (lambda: None) if file is None else (lambda: storage.download(file, item.window))

        with (
            bulk_allocation_gc(),
            closing(
                downloads_ahead(
                    read_items(hours),
                    fetch,
                    ahead=settings.storage.prefetch_files,
                    discard=_discard,
                    name="events-storage-download",
                )
            ) as items,
        ):
            for item, pending in items:
                archive = pending.result()
                if archive is not None:
                    count = yield from self._storage_file(archive, item, storage)
                    self._progress.add(count)
                if item.last_of_hour:
                    self._finish_window(item.window)
                    self.logger.info("events: %s", self._progress.window_done(item.window))

    def _storage_file(
        self, archive: ExportArchive, item: ReadItem, storage: ExportStorage
    ) -> Generator[dict[str, Any], None, int]:
        """The events of one spooled file; an unreadable file fails naming it."""
        with archive:
            try:
                return (yield from self._records(archive))
            except CorruptExportError as exc:
                url = storage.location.url_of(item.file.path) if item.file else ""
                where = "" if url in exc.detail else f"{url}: "
                raise StorageFileError(
                    f"{where}{exc.detail}: {item.window} is not finished and its bookmark did "
                    "not move; the next run reads it again. If the file stays unreadable, run "
                    "Amplitude's backfill for that hour again (the export's Backfills tab)."
                ) from None


def _discard(archive: ExportArchive | None) -> None:
    if archive is not None:
        archive.close()
