"""One exported file, downloaded to disk as the archive the Export API path reads.

The object (a gzip file of JSON lines) is streamed into an anonymous temporary file as the only
entry of a stored (uncompressed) zip named after the object: :class:`ExportArchive` then
decompresses it in the run's decompressing worker process (the same one the Export API path
uses, :mod:`tap_amplitude.fast_path.decompressor`) and hands out the same blocks of lines as for
an Export API body, so both sources share every step from here to the RECORD line. The copy
costs one CRC pass over the compressed bytes; memory stays one chunk. Files under
:data:`IN_PROCESS_BELOW` are decompressed in the tap's process: handing them to the worker costs
more than it saves.
"""

from __future__ import annotations

import shutil
import typing as t
import zipfile
from typing import TYPE_CHECKING

from tap_amplitude.export_reader import ExportArchive, spool_to_tempfile
from tap_amplitude.storage.filesystem import StorageAccessError
from tap_amplitude.storage.location import StorageLocation
from tap_amplitude.storage.naming import ExportObject
from tap_amplitude.windows import Window

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["CHUNK_BYTES", "IN_PROCESS_BELOW", "StorageFileArchive", "download_archive"]

CHUNK_BYTES = 8 << 20  # bytes per read from the store
IN_PROCESS_BELOW = 1 << 20  # compressed bytes under which a file is decompressed in-process
_ZIP64_FROM = 1 << 31  # entries this large get zip64 headers (hours over 4 GB are the point)


class StorageFileArchive(ExportArchive):
    """A spooled export file: :class:`ExportArchive`, decompressed in-process when small."""

    def __init__(self, source: t.BinaryIO, window: Window, *, size: int) -> None:
        super().__init__(source, window)
        self.in_process = size < IN_PROCESS_BELOW


def download_archive(
    fs: AbstractFileSystem, location: StorageLocation, item: ExportObject, window: Window
) -> StorageFileArchive:
    """Download ``item`` into a spooled one-entry zip and open it as ``window``'s archive.

    The entry is named by the object's URL, so a decompression error names the file.

    Raises:
        StorageAccessError: the object could not be read (gone, denied, connection lost).
    """
    url = location.url_of(item.path)
    spool = spool_to_tempfile(())
    try:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            info = zipfile.ZipInfo(url, date_time=item.hour.timetuple()[:6])
            with (
                fs.open(item.path, "rb", block_size=CHUNK_BYTES) as source,
                archive.open(info, "w", force_zip64=item.size >= _ZIP64_FROM) as entry,
            ):
                shutil.copyfileobj(source, entry, CHUNK_BYTES)
        spool.seek(0)
    except FileNotFoundError:
        spool.close()
        raise StorageAccessError(
            f"{url} was listed but is gone (deleted or replaced while the tap ran); rerun."
        ) from None
    except PermissionError as exc:
        spool.close()
        raise StorageAccessError(
            f"{url}: access denied when reading ({exc}). The reader needs read access to the "
            "bucket's objects, not only the listing."
        ) from None
    except BaseException:
        spool.close()
        raise
    return StorageFileArchive(spool, window, size=item.size)
