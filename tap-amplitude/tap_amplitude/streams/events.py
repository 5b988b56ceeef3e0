"""The events stream: raw events from the Export API, window by window.

State: the stream's bookmark (``replication_key_value`` in the SDK's state structure, so
Meltano's state backend stores it) is the end of the last finished window, an RFC 3339 hour:
every event with ``server_upload_time`` before it has been emitted. It is written, and stdout
flushed, after each window (an empty 404 window included), so a run killed at any moment resumes
at the first unfinished window: nothing skipped, at most that window repeated.

Next to it, ``reread_from`` is the first hour that was read while still recent (less than
``export_lag_hours + lookback_hours`` after it ended): the next run starts there, so an hour that
Amplitude was still loading (a 404, or part of its events) is read again once it is complete.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import msgspec
import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context, Record
from singer_sdk.streams.rest import PageContext
from typing_extensions import override

from tap_amplitude import clock
from tap_amplitude.api import ApiPath
from tap_amplitude.config_schema import DOCUMENTED_EXPORT_LAG_HOURS
from tap_amplitude.errors import (
    AmplitudeAPIError,
    CorruptExportError,
    ExportGatewayTimeoutError,
    ExportTimeoutError,
    ExportTooLargeError,
    InvalidRecordError,
    RetryableError,
)
from tap_amplitude.export_prefetch import Pending, downloads_ahead
from tap_amplitude.export_reader import ExportArchive, spool_to_tempfile
from tap_amplitude.fast_path import FastRecordPath, bulk_allocation_gc
from tap_amplitude.fast_path.decompressor import EncodedLines, start_shared_worker
from tap_amplitude.progress import ExportProgress
from tap_amplitude.responses import Action, Rule
from tap_amplitude.settings import parse_datetime_setting
from tap_amplitude.streams.base import AmplitudeStream
from tap_amplitude.streams.events_storage import StorageEventsSource

if TYPE_CHECKING:
    from singer_sdk.helpers.types import RequestFunc
from tap_amplitude.timestamps import (
    EXPORT_TIMESTAMP_FIELDS,
    InvalidTimestampError,
    format_rfc3339,
    normalize_records,
)
from tap_amplitude.windows import (
    HOUR,
    MAX_EXPORT_HOURS,
    Window,
    export_range,
    floor_hour,
    next_window,
    plan_windows,
    reread_point,
)

# One export download attempt (retried by ``request_decorator``).
Download: TypeAlias = Callable[[requests.PreparedRequest, Context | None], ExportArchive | None]

CHUNK_SIZE = 1 << 20  # bytes per read of the export body

TIMESTAMP_FIELDS = EXPORT_TIMESTAMP_FIELDS


class EventsStream(StorageEventsSource, FastRecordPath, AmplitudeStream):
    """Raw events (/api/2/export, or the S3/GCS export with ``export_source: storage``), keyed
    on uuid, incremental on server_upload_time."""

    name = "events"
    path = ApiPath.EXPORT.value
    decodes_json = False  # the body is a zip
    primary_keys = ("uuid",)
    replication_key = "server_upload_time"
    is_sorted = False
    # Records are normalised here (timestamps) and otherwise passed through as Amplitude sent
    # them: the SDK's per-record conformance would only cost time (and could touch open objects).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # STATE is written at the end of each window, never mid-window.
    STATE_MSG_FREQUENCY = 2**62

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoder = msgspec.json.Decoder()
        # The window being requested, per thread: prefetched windows download in threads.
        self._requesting = threading.local()
        self._progress = ExportProgress(total_windows=0)
        self._run_start: dt.datetime | None = None
        self._resumed_bookmark: dt.datetime | None = None

    @property
    def _window(self) -> Window | None:
        """The window this thread is requesting (error messages and log lines name it)."""
        return getattr(self._requesting, "window", None)

    @_window.setter
    def _window(self, window: Window | None) -> None:
        self._requesting.window = window

    # -- state -------------------------------------------------------------------------------

    # singer-sdk streams/core.py (private): no public
    # switch turns off the per-record bookmark. Here it advances per finished window only.
    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """No per-record bookmark: the bookmark advances per finished window only."""

    def _saved_time(self, key: str) -> dt.datetime | None:
        value = self.stream_state.get(key)
        if not value or self.replication_method != "INCREMENTAL":
            return None
        try:
            return parse_datetime_setting(f"state.bookmarks.events.{key}", value)
        except ValueError as exc:
            raise AmplitudeAPIError(
                f"The saved state is not usable: {exc}. Fix or clear the events bookmark."
            ) from None

    def _finish_window(self, window: Window) -> None:
        if self.replication_method != "INCREMENTAL":
            return
        settings = self.settings
        state = self.stream_state
        state["replication_key"] = self.replication_key
        # Never backwards: re-reading hours before the bookmark (reread_from, or a larger
        # export_lag_hours than last time) does not undo what earlier runs emitted.
        done = max(window.end, self._resumed_bookmark or window.end)
        state["replication_key_value"] = format_rfc3339(done)
        state["reread_from"] = format_rfc3339(
            reread_point(
                run_start=self._run_start or window.start,
                done_until=window.end,
                now=clock.utc_now(),
                settle_hours=settings.export_lag_hours + settings.lookback_hours,
            )
        )
        self.state_manager.is_flushed = False
        # singer-sdk streams/core.py (private): the only
        # way to emit STATE in the middle of a stream (after each window).
        self._write_state_message()

    # -- HTTP: one export request, on the SDK's session, table and backoff ---------------------

    @property
    def read_timeout(self) -> float:
        """``export_timeout``: exports can take minutes to start."""
        return self.settings.export_timeout

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: Window | None,
    ) -> dict[str, Any]:
        """The window's hours (``YYYYMMDDTHH``, both inclusive)."""
        assert next_page_token is not None
        return dict(next_page_token.export_params)

    def request_label(self) -> str:
        """``the export of <window>``."""
        return f"export of {self._window}" if self._window else super().request_label()

    def act_on(self, rule: Rule, response: requests.Response) -> None:
        """Export rows: 404 is an empty window, 400 halves it, 504 retries then halves."""
        window = self._window
        assert window is not None
        if rule.action is Action.HALVE:
            raise ExportTooLargeError(window)
        if rule.action is Action.RETRY and rule.max_attempts is not None:
            raise ExportGatewayTimeoutError(window, max_attempts=rule.max_attempts)
        super().act_on(rule, response)

    def _prepared(self, window: Window, context: Context | None) -> requests.PreparedRequest:
        request = self.get_http_request(
            page=PageContext(stream_context=context, next_page_token=window)
        )
        return self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
        )

    def _download(
        self, prepared: requests.PreparedRequest, context: Context | None
    ) -> ExportArchive | None:
        """One attempt: send, validate, stream the body to a temporary file, open it as a zip.

        The SDK never sends with ``stream=True`` (singer-sdk rest.py), hence this
        function, built from public members only and retried by ``request_decorator``.
        """
        window = self._window
        assert window is not None
        started = time.monotonic()
        response = self.requests_session.send(
            prepared, timeout=self.timeout, allow_redirects=self.allow_redirects, stream=True
        )
        failed = True
        try:
            self.validate_response(response)
            if response.status_code == 404:
                failed = False
                return None
            try:
                spool = spool_to_tempfile(response.iter_content(CHUNK_SIZE))
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                msg = f"the export download of {window} was cut off ({type(exc).__name__})"
                raise RetryableError(msg, response) from None
            failed = False
        finally:
            response.close()
            # The whole download (headers and body), unlike the SDK's response.elapsed.
            self.log_request_duration(
                response, time.monotonic() - started, failed=failed, context=context
            )
        return ExportArchive(spool, window)  # CorruptExportError is retried

    # -- records -----------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Events of every complete hour from the bookmark (or start_date) on."""
        settings = self.settings
        if settings.storage.from_storage:
            yield from self._storage_records(context)
            return
        now = clock.utc_now()
        bookmark = self._saved_time("replication_key_value")
        reread_from = self._saved_time("reread_from")  # absent: resume at the bookmark
        self._resumed_bookmark = bookmark
        start, end = export_range(
            bookmark=bookmark,
            reread_from=reread_from,
            start_date=settings.start_date,
            end_date=settings.end_date,
            now=now,
            lag_hours=settings.export_lag_hours,
        )
        self._log_slice_bounds(settings.start_date, settings.end_date)
        if settings.export_lag_hours < DOCUMENTED_EXPORT_LAG_HOURS:
            self.logger.warning(
                "events: export_lag_hours=%d reads hours before Amplitude documents them as "
                "exportable (2 hours after they end); they may be incomplete. lookback_hours=%d "
                "re-reads them on the next run.",
                settings.export_lag_hours,
                settings.lookback_hours,
            )
        if start >= end:
            self.logger.warning(
                "events: nothing to export: the first hour to read (%s) is not before the "
                "newest finished hour (%s; now minus export_lag_hours=%d, capped by end_date). "
                "No request was made.",
                f"{start:%Y-%m-%dT%H}:00Z",
                f"{end:%Y-%m-%dT%H}:00Z",
                settings.export_lag_hours,
            )
            return
        if bookmark is not None and start < floor_hour(bookmark):
            self.logger.info(
                "events: reading again %s:00Z to %s:00Z, read while recent by the last run "
                "(lookback_hours=%d); their events are emitted again with the same uuid",
                f"{start:%Y-%m-%dT%H}",
                f"{floor_hour(bookmark):%Y-%m-%dT%H}",
                settings.lookback_hours,
            )
        hours = settings.request_time_range
        if self.ABORT_AT_RECORD_COUNT is not None:
            # --test: a connection check reads one recent window, not the whole history.
            start = max(start, end - dt.timedelta(hours=hours))
        self._run_start = start
        # Without start_date and bookmark, the project's history is scanned from 2012: while
        # windows come back empty, each next one doubles (up to the Export API's 365 days).
        scanning = settings.start_date_is_default and bookmark is None
        self.logger.info(
            "events: exporting %s:00Z to %s:00Z in windows of %d hours",
            f"{start:%Y-%m-%dT%H}",
            f"{end:%Y-%m-%dT%H}",
            hours,
        )
        self._progress = ExportProgress(total_windows=-(-int((end - start) / HOUR) // hours))
        cursor, size = start, hours
        ahead = settings.export_prefetch_windows
        with bulk_allocation_gc(), self.get_http_request_counter() as requests_made:
            requests_made.with_context(context)
            count = requests_made.increment
            # Scanning for the first events: the next window's size depends on this one's
            # answer, so windows are read one at a time until events are found.
            while scanning and cursor < end:
                window = next_window(cursor, end, size)
                found = yield from self._export(window, None, count, context)
                self.logger.info("events: %s", self._progress.window_done(window))
                cursor = window.end
                if found:
                    scanning = False
                else:
                    size = min(size * 2, MAX_EXPORT_HOURS)
            # The rest of the plan is fixed: up to `ahead` windows download while one is read.
            self.requests_session  # noqa: B018  (created here, before any download thread)
            with closing(
                downloads_ahead(
                    plan_windows(cursor, end, hours),
                    lambda window: self._fetch(window, context),
                    ahead=ahead,
                    discard=_discard_archive,
                    name=f"{self.name}-export-download",
                )
            ) as windows:
                for window, pending in windows:
                    yield from self._export(window, pending, count, context)
                    self.logger.info("events: %s", self._progress.window_done(window))

    def _retrying_download(self) -> Download:
        """:meth:`_download` with the stream's retries (one per download: ``request_decorator``
        counts the attempts of one request at a time)."""
        return cast("Download", self.request_decorator(cast("RequestFunc", self._download)))

    def _fetch(self, window: Window, context: Context | None) -> Callable[[], ExportArchive | None]:
        """The download of ``window`` (prepared now, in window order; run by a thread when it is
        prefetched)."""
        prepared = self._prepared(window, context)
        download = self._retrying_download()

        def run() -> ExportArchive | None:
            self._window = window
            return download(prepared, context)

        return run

    def _log_slice_bounds(self, start_date: dt.datetime, end_date: dt.datetime | None) -> None:
        for name, value in (("start_date", start_date), ("end_date", end_date)):
            if value is not None and value != floor_hour(value):
                self.logger.info(
                    "events: %s %s is not on a whole hour: events are read in whole UTC hours, "
                    "from %s:00Z (rounded down), so adjacent slices never share an hour",
                    name,
                    format_rfc3339(value),
                    f"{floor_hour(value):%Y-%m-%dT%H}",
                )

    def _export(
        self,
        window: Window,
        pending: Pending[ExportArchive | None] | None,
        count_request: Callable[[], None],
        context: Context | None,
    ) -> Generator[dict[str, Any], None, bool]:
        """Export ``window`` (its first download ``pending`` when already started), halving it
        on 'too large' and on persistent 504s.

        Returns (as the generator's value) whether any event was found.
        """
        found = False
        parts: list[tuple[Window, Pending[ExportArchive | None] | None]] = [(window, pending)]
        while parts:
            part, started = parts.pop()
            self._window = part
            start_shared_worker()  # the decompressing process starts while the part downloads
            try:
                if started is None:
                    archive = self._retrying_download()(self._prepared(part, context), context)
                else:
                    archive = started.result()
            except (ExportTooLargeError, ExportTimeoutError) as exc:
                if part.hours == 1:
                    raise
                first, second = part.halves()
                self.logger.warning("%s Halving: %s, then %s.", exc, first, second)
                parts += [(second, None), (first, None)]
                continue
            finally:
                count_request()
            if archive is None:
                self.logger.info("events: %s is empty (404)", part)
            else:
                with archive:
                    count = yield from self._records(archive)
                found = found or count > 0
                self._progress.add(count)
            self._finish_window(part)
        return found

    def _records(self, archive: ExportArchive) -> Generator[dict[str, Any], None, int]:
        """The archive's events, timestamps normalised; returns how many there were."""
        count = 0
        window = archive.window
        # Before 2014-11-12 Amplitude answers with whole days: keep the window's hours only.
        bounds = (
            (format_rfc3339(window.start), format_rfc3339(window.end))
            if window.day_grouped
            else None
        )
        # The decompressing process may do the decoding and encoding of some parts itself
        # when the lines go straight to stdout (no SDK step, no filter of the records).
        encode = bounds is None and self.can_write_directly()
        # closing: an early exit stops the decompressing process before the archive is closed
        with closing(archive.parts(encode=encode)) as parts:
            for part in parts:
                if isinstance(part, EncodedLines):
                    self.stamp_time_extracted()
                    count += part.count
                    self.write_encoded(part.lines, part.count)
                    continue
                events = self._decode_block(part, window)
                if bounds is not None:
                    low, high = bounds
                    key = self.replication_key
                    events = [e for e in events if low <= (e.get(key) or "") < high]
                self.stamp_time_extracted()
                count += len(events)
                if not self.write_block(events):
                    yield from events
        return count

    def _decode_block(self, block: bytes | memoryview, window: Window) -> list[dict[str, Any]]:
        """The events of a block of JSON lines, their timestamps normalised."""
        try:
            events: list[dict[str, Any]] = self._decoder.decode_lines(block)
        except msgspec.DecodeError as exc:
            raise CorruptExportError(window, f"a line is not JSON ({exc})") from None
        try:
            normalize_records(events, TIMESTAMP_FIELDS)
        except InvalidTimestampError as exc:
            event = exc.record or {}
            raise InvalidRecordError(
                f"Event uuid={event.get('uuid')!r} in the export of {window}: "
                f"{exc}. Please report this value to the tap's maintainers."
            ) from None
        return events


def _discard_archive(archive: ExportArchive | None) -> None:
    """Close (and delete) the spooled file of a window that will not be read."""
    if archive is not None:
        archive.close()
