"""merged_ids: the Amplitude ids merged into another, from the S3 / GCS export's merged-id files.

No REST API says when Amplitude merges two amplitude_ids into one user; its S3 and GCS export
destinations write the merges hourly ("Export all merged Amplitude IDs"), one JSON object per
line: ``scope``, ``merge_time``, ``merge_server_time``, ``amplitude_id``,
``merged_amplitude_id`` (amplitude/amplitude-docs content/collections/destination-catalog/en/
amazon-s3.md, "Merged Amplitude IDs file and data format"). Each row gets the file's hour as
``server_upload_hour``, the replication key.

State as for events: the bookmark is the end of the last hour read whole, written after each
hour; ``reread_from`` makes the next run read again the hours that were still recent
(``export_lag_hours`` + ``lookback_hours``). With ``export_source: api`` the stream is skipped
with a warning saying where merged ids come from.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from contextlib import closing
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec
from singer_sdk import Stream
from singer_sdk.helpers.types import Context, Record
from typing_extensions import override

from tap_amplitude import clock
from tap_amplitude.errors import AmplitudeAPIError, CorruptExportError
from tap_amplitude.settings import parse_datetime_setting
from tap_amplitude.storage.naming import FileKind
from tap_amplitude.streams.events_storage import StorageFileError, hours_to_read
from tap_amplitude.timestamps import format_rfc3339
from tap_amplitude.windows import HOUR, Window, export_range, reread_point

if TYPE_CHECKING:
    from tap_amplitude.settings import TapSettings
    from tap_amplitude.tap import TapAmplitude

__all__ = ["MergedIdsStream"]

REQUIRED = ("amplitude_id", "merged_amplitude_id")


def _schema() -> dict[str, Any]:
    text = resources.files("tap_amplitude").joinpath("schemas", "merged_ids.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


class MergedIdsStream(Stream):
    """Merged Amplitude ids (storage export only), keyed on the pair, incremental per hour."""

    name = "merged_ids"
    primary_keys = ("amplitude_id", "merged_amplitude_id")
    replication_key = "server_upload_hour"
    is_sorted = False
    STATE_MSG_FREQUENCY = 2**62  # STATE after each hour, never mid-hour

    def __init__(self, tap: TapAmplitude) -> None:
        super().__init__(tap, schema=_schema())
        self._amplitude_tap = tap
        self._decoder = msgspec.json.Decoder()
        self._run_start: dt.datetime | None = None
        self._resumed_bookmark: dt.datetime | None = None

    @property
    def settings(self) -> TapSettings:
        """The validated settings."""
        return self._amplitude_tap.settings

    # Private SDK member (SDK_OVERRIDES in tap.py; as in EventsStream): no public switch
    # turns off the per-record bookmark. Here it advances per finished hour only.
    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """No per-record bookmark: the bookmark advances per finished hour only."""

    def _saved_time(self, key: str) -> dt.datetime | None:
        value = self.stream_state.get(key)
        if not value or self.replication_method != "INCREMENTAL":
            return None
        try:
            return parse_datetime_setting(f"state.bookmarks.merged_ids.{key}", value)
        except ValueError as exc:
            raise AmplitudeAPIError(
                f"The saved state is not usable: {exc}. Fix or clear the merged_ids bookmark."
            ) from None

    def _finish_hour(self, window: Window) -> None:
        if self.replication_method != "INCREMENTAL":
            return
        settings = self.settings
        state = self.stream_state
        state["replication_key"] = self.replication_key
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
        # Private SDK member (as in EventsStream): STATE mid-stream.
        self._write_state_message()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The merges of every finished, exported hour from the bookmark (or start_date) on."""
        settings = self.settings
        if not settings.storage.from_storage:
            self.logger.warning(
                "merged_ids: skipped: merged Amplitude ids come only from Amplitude's Amazon S3 "
                "or Google Cloud Storage export (no REST API gives them). Turn on 'Export all "
                "merged Amplitude IDs' in the export (Amplitude Data > Catalog > Destinations), "
                "then set export_source to 'storage' and export_storage_url to its bucket "
                "(docs/storage-export.md)."
            )
            return
        storage = self._amplitude_tap.export_storage
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
        listing = storage.listing
        if not listing.merged_ids:
            self.logger.warning(
                "merged_ids: no merged-id file (-<orgId>_yyyy-MM-dd_H.json.gz) under %s: turn "
                "on 'Export all merged Amplitude IDs' in Amplitude's export to this bucket.",
                storage.location,
            )
            return
        if bookmark is None and settings.start_date_is_default:
            start = max(start, min(listing.merged_ids))
        start, end = hours_to_read(start, end, listing.frontier(FileKind.MERGED_IDS))
        if self.ABORT_AT_RECORD_COUNT is not None:  # --test: the newest hour only
            start = max(start, end - HOUR)
        self._run_start = start
        for hour in listing.hours(FileKind.MERGED_IDS, start, end):
            stamp = format_rfc3339(hour.window.start)
            for item in hour.files:
                url = storage.location.url_of(item.path)
                with storage.open_lines(item) as archive, closing(archive.blocks()) as blocks:
                    try:
                        for block in blocks:
                            yield from self._rows(block, stamp, url)
                    except CorruptExportError as exc:
                        raise StorageFileError(
                            f"{exc.detail}: {hour.window} is not finished and the merged_ids "
                            "bookmark did not move; the next run reads it again."
                        ) from None
            self._finish_hour(hour.window)

    def _rows(self, block: bytes, stamp: str, url: str) -> list[dict[str, Any]]:
        try:
            rows: list[dict[str, Any]] = self._decoder.decode_lines(block)
        except msgspec.DecodeError as exc:
            raise StorageFileError(f"{url}: a line is not JSON ({exc})") from None
        for row in rows:
            if not isinstance(row, dict) or any(
                not isinstance(row.get(key), int) for key in REQUIRED
            ):
                raise StorageFileError(
                    f"{url}: a row lacks an integer amplitude_id or merged_amplitude_id "
                    f"({str(row)[:200]}); please report it to the tap's maintainers."
                )
            row["server_upload_hour"] = stamp
        return rows
