"""The storage export of one run: the filesystem, one listing of the prefix, the downloads."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from tap_amplitude.storage.filesystem import StorageAccessError, list_objects, open_filesystem
from tap_amplitude.storage.listing import ProjectChoiceError, StorageListing, build_listing
from tap_amplitude.storage.location import StorageLocation
from tap_amplitude.storage.naming import ExportObject
from tap_amplitude.storage.spool import download_archive
from tap_amplitude.windows import HOUR, Window

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from tap_amplitude.export_reader import ExportArchive
    from tap_amplitude.settings import TapSettings

__all__ = ["ExportStorage"]


class ExportStorage:
    """The bucket of ``export_storage_url``, listed once per run (shared by the events and
    merged_ids streams: both see the same files)."""

    def __init__(self, settings: TapSettings, logger: logging.Logger) -> None:
        location = settings.export_storage
        assert location is not None
        self.location: StorageLocation = location
        self._settings = settings
        self._logger = logger

    @cached_property
    def fs(self) -> AbstractFileSystem:
        """The filesystem (the extra's client, with the configured credentials)."""
        return open_filesystem(self._settings)

    @cached_property
    def listing(self) -> StorageListing:
        """Every export file under the prefix, by hour (one listing per run).

        Raises:
            StorageAccessError: the bucket cannot be listed, or holds no export files, or the
                project to read is ambiguous.
        """
        location = self.location
        self._logger.info("storage: listing %s", location)
        try:
            listing = build_listing(
                list_objects(self.fs, location), self._settings.storage.project_id
            )
        except ProjectChoiceError as exc:
            raise StorageAccessError(
                f"export_storage_url {location}: {exc} (setting export_storage_project_id)."
            ) from None
        if listing.recognised == 0:
            examples = ", ".join(location.url_of(path) for path in listing.other_examples)
            raise StorageAccessError(
                f"export_storage_url {location}: no file named like Amplitude's export "
                "(<projectId>_yyyy-MM-dd_H#<n>.json.gz for events, -<orgId>_yyyy-MM-dd_H.json.gz "
                f"for merged ids) among the {listing.objects} object(s) under it"
                + (f" (e.g. {examples})" if examples else "")
                + ". Check the bucket and folder against Amplitude's export settings, and that "
                "the export has run at least once."
            )
        self._logger.info(
            "storage: %d object(s) under %s: event files of %d hour(s) (project %s), merged-id "
            "files of %d hour(s), %d `complete` label(s)",
            listing.objects,
            location,
            len(listing.events),
            ", ".join(sorted(listing.project_ids)) or "none",
            len(listing.merged_ids),
            len(listing.complete),
        )
        return listing

    def download(self, item: ExportObject, window: Window) -> ExportArchive:
        """``item`` spooled to disk, opened as ``window``'s archive (thread-safe)."""
        return download_archive(self.fs, self.location, item, window)

    def open_lines(self, item: ExportObject) -> ExportArchive:
        """``item`` (a merged-ids file) as an archive of its hour."""
        return self.download(item, Window(item.hour, item.hour + HOUR))
