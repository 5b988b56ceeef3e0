"""The export decompressor's own process: unzip, gunzip, write the JSON lines to stdout.

Run by :mod:`tap_amplitude.fast_path.decompressor` as ``python -I -S gunzip_worker.py FD``, where
FD is one end of a Unix socket pair, inherited open. The process lives for the whole run: for
each export it receives the spooled zip's descriptor over that socket (``SCM_RIGHTS``; one byte
of message), decompresses every entry and writes frames to stdout, then waits for the next
export. It ends when the socket is closed (the tap is done or gone). Standard library only (it
runs without site-packages): :mod:`zipfile` and :mod:`zlib` in gzip mode, which checks each
member's CRC-32 and length itself (several members in a row, zero padding between them, as
:mod:`gzip` reads them).

Frames, each led by a 4-byte big-endian length: ``N`` then N bytes of whole lines (about
:data:`PIECE` bytes: each frame ends at a newline, the text after the last newline of a piece
leads the next frame, so the tap decodes a frame as it comes, without copying or regrouping
it); ``0``: the export is done; ``ERROR`` then a length and a UTF-8 message naming the entry
that cannot be decompressed (the export is over too). Every entry's text ends with a newline, so
a line never runs from one entry into the next.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO

# Decompressed bytes per zlib call, so about the size of a frame: the tap decodes a frame at a
# time, and the records of about 128 KB stay in the CPU's caches from decoding to encoding
# (tap_amplitude.export_reader.DECODE_SIZE; the text after the last newline comes on top).
PIECE = 120 << 10
INPUT = 1 << 20  # compressed bytes read at a time
ERROR = 0xFFFFFFFF
_HEADER = struct.Struct(">I")
_GZIP = 16 + zlib.MAX_WBITS  # zlib's gzip mode: header, CRC-32 and length checked


def decompress(fd: int, out: BinaryIO) -> None:
    """Write the frames of the zip open on ``fd`` to ``out``."""
    write = out.write
    with os.fdopen(fd, "rb") as spool, zipfile.ZipFile(spool) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                with archive.open(info) as member:
                    write_lines(gunzip(member), write)
            except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
                message = f"entry {info.filename!r} cannot be decompressed ({exc})".encode()
                write(_HEADER.pack(ERROR) + _HEADER.pack(len(message)) + message)
                return
    write(_HEADER.pack(0))


def gunzip(member: IO[bytes]) -> Iterator[bytes]:
    """The text of the gzip data read from ``member``, in pieces of up to :data:`PIECE` bytes.

    One member or several in a row, with zero padding between them (what :class:`gzip.GzipFile`
    reads); zlib checks each member's CRC-32 and length.

    Raises:
        zlib.error: not gzip, or a failed CRC or length check.
        EOFError: the data ends inside a member.
    """
    inflater = zlib.decompressobj(_GZIP)
    between = False  # a member has ended: zero padding, the next member or the end may follow
    started = False  # a member has begun
    while chunk := member.read(INPUT):
        data = chunk
        while True:
            if between:
                data = data.lstrip(b"\0")
                if not data:
                    break
                inflater = zlib.decompressobj(_GZIP)
                between = False
            started = True
            piece = inflater.decompress(data, PIECE)
            if piece:
                yield piece
            if inflater.eof:
                data = inflater.unused_data
                between = True
            else:
                data = inflater.unconsumed_tail
                # All input taken and the output not cut short: zlib holds nothing more.
                if not data and len(piece) < PIECE:
                    break
    if started and not between:
        msg = "Compressed file ended before the end-of-stream marker was reached"
        raise EOFError(msg)


def write_lines(pieces: Iterator[bytes], write: Callable[[bytes | memoryview], object]) -> None:
    """Write ``pieces`` of text as frames of whole lines; the last ends with a newline."""
    tail = b""  # the text after the last newline written
    for piece in pieces:
        cut = piece.rfind(b"\n") + 1
        if not cut:  # a line longer than a piece
            tail += piece
            continue
        write(_HEADER.pack(len(tail) + cut) + tail)
        with memoryview(piece) as view:
            write(view[:cut])
        tail = piece[cut:]
    if tail:
        write(_HEADER.pack(len(tail) + 1) + tail + b"\n")


def main(argv: list[str]) -> int:
    """Serve exports sent over the socket on descriptor ``argv[1]`` until it is closed."""
    out = sys.stdout.buffer
    with socket.socket(fileno=int(argv[1])) as control:
        while True:
            message, fds, _, _ = socket.recv_fds(control, 1, 1)
            if not message or not fds:
                return 0
            try:
                decompress(fds[0], out)
            except (zipfile.BadZipFile, OSError) as exc:  # not a zip: checked by the tap first
                text = f"the export cannot be read ({exc})".encode()
                out.write(_HEADER.pack(ERROR) + _HEADER.pack(len(text)) + text)
            out.flush()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:  # the tap stopped reading (an early exit): nothing left to do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        sys.exit(0)
