"""Read an Export API body: a zip of gzip files of JSON lines, from disk, block by block.

The body is streamed to a temporary file first (never held in memory); entries are then
decompressed as streams and handed out as blocks of whole lines of about ``BLOCK_SIZE`` bytes, so
peak memory depends on the block size, not on the size of the window.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from tap_amplitude.errors import CorruptExportError
from tap_amplitude.windows import Window

__all__ = ["BLOCK_SIZE", "ExportArchive", "spool_to_tempfile"]

BLOCK_SIZE = 1 << 20
_DECODE_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile, OSError)


def spool_to_tempfile(chunks: Iterable[bytes]) -> Path:
    """Write ``chunks`` to a new temporary file and return its path (deleted on error)."""
    handle, name = tempfile.mkstemp(prefix="tap-amplitude-export-", suffix=".zip")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


class ExportArchive:
    """An export zip on disk; owns the file and deletes it on :meth:`close`.

    Raises:
        CorruptExportError: (from the constructor) the file is not a zip, e.g. a truncated
            download or an HTML error page.
    """

    def __init__(self, path: Path, window: Window) -> None:
        self.path = path
        self.window = window
        self._zip: zipfile.ZipFile | None = None
        try:
            self._zip = zipfile.ZipFile(path)
            # CRC-check every entry now, while the download can still be retried: afterwards
            # the gzip payloads are exactly what Amplitude produced.
            bad = self._zip.testzip()
        except _DECODE_ERRORS as exc:
            if self._zip is not None:
                self._zip.close()
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            raise CorruptExportError(
                window, f"the body ({size} bytes) is not a zip: {exc}"
            ) from None
        if bad is not None:
            self.close()
            raise CorruptExportError(window, f"entry {bad!r} fails its CRC check")

    def __enter__(self) -> ExportArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the zip and delete the temporary file."""
        if self._zip is not None:
            self._zip.close()
        self.path.unlink(missing_ok=True)

    @property
    def entry_names(self) -> list[str]:
        """Names of the file entries (directory entries excluded)."""
        infos = self._zip.infolist() if self._zip is not None else []
        return [info.filename for info in infos if not info.is_dir()]

    def blocks(self) -> Iterator[bytes]:
        """Blocks of whole JSON lines, entry after entry, in the order of the archive.

        Raises:
            CorruptExportError: an entry is not valid gzip, is truncated or fails its CRC.
        """
        archive = self._zip
        if archive is None:
            return
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                yield from _entry_blocks(archive, info)
            except _DECODE_ERRORS as exc:
                raise CorruptExportError(
                    self.window, f"entry {info.filename!r} cannot be decompressed ({exc})"
                ) from None


def _entry_blocks(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as member, gzip.GzipFile(fileobj=member, mode="rb") as lines:
        pending = b""
        while chunk := lines.read(BLOCK_SIZE):
            cut = chunk.rfind(b"\n")
            if cut < 0:
                pending += chunk
                continue
            block = pending + chunk[: cut + 1] if pending else chunk[: cut + 1]
            pending = chunk[cut + 1 :]
            yield block
        if pending.strip():
            yield pending
