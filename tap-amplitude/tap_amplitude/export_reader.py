"""Read an Export API body: a zip of gzip files of JSON lines, from disk, block by block.

The body is streamed to a temporary file first (never held in memory); entries are then
decompressed as streams and handed out as blocks of whole lines of about ``BLOCK_SIZE`` bytes, so
peak memory depends on the block size, not on the size of the window.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import typing as t
import zipfile
import zlib
from collections.abc import Generator, Iterable, Iterator
from functools import partial
from pathlib import Path
from types import TracebackType

from tap_amplitude.errors import CorruptExportError
from tap_amplitude.fast_path.decompressor import (
    DecompressorError,
    EncodedLines,
    can_use_worker,
    shared_worker,
)
from tap_amplitude.windows import Window

__all__ = [
    "BLOCK_SIZE",
    "DECODE_SIZE",
    "ExportArchive",
    "gunzip",
    "line_blocks",
    "line_parts",
    "spool_to_tempfile",
]

BLOCK_SIZE = 1 << 20  # decompressed bytes per block handed out (bounds memory per block)
# Bytes of lines decoded at a time: the records of 128 KB stay in the CPU's caches from decoding
# to encoding; those of a whole 1 MB block did not (20% more CPU a record, every export shape).
DECODE_SIZE = 128 << 10
_DECODE_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, OSError)


def spool_to_tempfile(chunks: Iterable[bytes]) -> t.BinaryIO:
    """Write ``chunks`` to a new anonymous temporary file, returned open at its start.

    The file has no name (O_TMPFILE on Linux; unlinked at once elsewhere), so it disappears with
    the process even when the process is killed mid-export.
    """
    spool = tempfile.TemporaryFile(prefix="tap-amplitude-export-", suffix=".zip")  # noqa: SIM115
    try:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return t.cast("t.BinaryIO", spool)


class ExportArchive:
    """An export zip: a spooled file (closed by :meth:`close`) or a path (deleted by it).

    Raises:
        CorruptExportError: (from the constructor) the file is not a zip, e.g. a truncated
            download or an HTML error page.
    """

    def __init__(self, source: t.BinaryIO | Path, window: Window) -> None:
        self.path = source if isinstance(source, Path) else None
        self._file: t.BinaryIO = source.open("rb") if isinstance(source, Path) else source
        self.window = window
        self._zip: zipfile.ZipFile | None = None
        try:
            self._zip = zipfile.ZipFile(self._file)
            # CRC-check every entry now, while the download can still be retried: afterwards
            # the gzip payloads are exactly what Amplitude produced.
            bad = self._zip.testzip()
        except _DECODE_ERRORS as exc:
            size = self._file.seek(0, os.SEEK_END)
            self.close()
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
        """Close the zip and its file (a path given to the constructor is deleted)."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    @property
    def entry_names(self) -> list[str]:
        """Names of the file entries (directory entries excluded)."""
        infos = self._zip.infolist() if self._zip is not None else []
        return [info.filename for info in infos if not info.is_dir()]

    def blocks(self, *, in_process: bool = False) -> Generator[bytes, None, None]:
        """Blocks of whole JSON lines, entry after entry, in the order of the archive.

        The archive is decompressed by a worker process while the caller works on the blocks
        already out (:mod:`tap_amplitude.fast_path.decompressor`); in this process when that is
        not possible, or with ``in_process``. Both give the same lines; with the worker, every
        entry's text ends with a newline.

        Raises:
            CorruptExportError: an entry is not valid gzip, is truncated or fails its CRC.
        """
        for frame in self._frames(in_process=in_process):
            assert not isinstance(frame, EncodedLines)  # asked without encode
            yield frame if isinstance(frame, bytes) else bytes(frame)

    def parts(
        self, *, encode: bool = False
    ) -> Generator[bytes | memoryview | EncodedLines, None, None]:
        """The lines of :meth:`blocks`, in parts of about :data:`DECODE_SIZE` bytes, each
        ending at a newline (the last may not): what the events stream decodes at a time.

        A part from the worker process is a view of a buffer reused for the next part: decode
        it before asking for the next. With ``encode``, the worker may hand some parts over
        already decoded, normalised and encoded (:class:`EncodedLines`).

        Raises:
            CorruptExportError: as :meth:`blocks`.
        """
        for frame in self._frames(in_process=False, encode=encode):
            if isinstance(frame, bytes):
                yield from line_parts(frame)
            else:  # the worker's frames are already about DECODE_SIZE
                yield frame

    # Decompressed in this process even where a worker could be used (StorageFileArchive: small
    # files, which cost more to hand over than they save).
    in_process: bool = False

    def _frames(
        self, *, in_process: bool, encode: bool = False
    ) -> Generator[bytes | memoryview | EncodedLines, None, None]:
        """Blocks of whole lines: views of the worker's frames, or bytes read in this process."""
        worker, shared = None, False
        if (
            not (in_process or self.in_process)
            and self._zip is not None
            and can_use_worker(self._file)
        ):
            worker, shared = shared_worker()
        if worker is None:
            yield from self._blocks()
            return
        try:
            yield from worker.frames(self._file, encode=encode)
        except DecompressorError as exc:
            raise CorruptExportError(self.window, str(exc)) from None
        finally:
            worker.busy = False
            if not shared:
                worker.stop()

    def _blocks(self) -> Iterator[bytes]:
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
    with archive.open(info) as member:
        yield from line_blocks(gunzip(member))


def gunzip(stream: t.BinaryIO | t.IO[bytes]) -> Iterator[bytes]:
    """Decompress the gzip data of ``stream`` (one member or several in a row, zero padding
    between them allowed) in pieces of at most ``BLOCK_SIZE`` bytes, with the standard
    library's :class:`gzip.GzipFile` (CRC and length of each member checked).

    Raises:
        gzip.BadGzipFile: (an OSError) not gzip, or a failed CRC or length check.
        EOFError: the data ends inside a member.
    """
    with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
        yield from iter(partial(unzipped.read, BLOCK_SIZE), b"")


def line_parts(block: bytes, size: int = DECODE_SIZE) -> Iterator[bytes]:
    """``block`` cut into parts of about ``size`` bytes, each ending at a newline (the last
    ends where the block does)."""
    if len(block) <= size:
        yield block
        return
    start, end = 0, len(block)
    while start < end:
        cut = block.find(b"\n", start + size) + 1
        if cut <= 0:
            cut = end
        yield block[start:cut]
        start = cut


def line_blocks(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Regroup ``pieces`` of text into blocks that end at a newline (the last may not)."""
    pending = b""
    for piece in pieces:
        cut = piece.rfind(b"\n")
        if cut < 0:
            pending += piece
            continue
        yield pending + piece[: cut + 1] if pending else piece[: cut + 1]
        pending = piece[cut + 1 :]
    if pending.strip():
        yield pending
