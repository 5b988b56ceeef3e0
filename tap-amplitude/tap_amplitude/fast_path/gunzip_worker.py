"""The export decompressor's own process: unzip, gunzip, write the JSON lines to stdout.

Run by :mod:`tap_amplitude.fast_path.decompressor` as ``python -I -S gunzip_worker.py FD``, where
FD is one end of a Unix socket pair, inherited open. The process lives for the whole run: for
each export it receives the spooled zip's descriptor over that socket (``SCM_RIGHTS``; one byte
of message), decompresses every entry and writes frames to stdout, then waits for the next
export. It ends when the socket is closed (the tap is done or gone). Standard library only (it
runs without site-packages): :mod:`zipfile` and :mod:`gzip` (several members in a row, zero
padding between them, each member's CRC and length checked). Every entry's text ends with a
newline, so a line never runs from one entry into the next.

Frames, each led by a 4-byte big-endian length: ``N`` (1 to 1 MB) then N bytes of text; ``0``:
the export is done; ``ERROR`` then a length and a UTF-8 message naming the entry that cannot be
decompressed (the export is over too).
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
import sys
import zipfile
import zlib
from typing import BinaryIO

PIECE = 1 << 20  # decompressed bytes per frame
ERROR = 0xFFFFFFFF
_HEADER = struct.Struct(">I")


def decompress(fd: int, out: BinaryIO) -> None:
    """Write the frames of the zip open on ``fd`` to ``out``."""
    write = out.write
    with os.fdopen(fd, "rb") as spool, zipfile.ZipFile(spool) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            last = b"\n"
            try:
                with archive.open(info) as member, gzip.GzipFile(fileobj=member) as text:
                    while piece := text.read(PIECE):
                        write(_HEADER.pack(len(piece)))
                        write(piece)
                        last = piece[-1:]
            except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
                message = f"entry {info.filename!r} cannot be decompressed ({exc})".encode()
                write(_HEADER.pack(ERROR) + _HEADER.pack(len(message)) + message)
                return
            if last != b"\n":
                write(_HEADER.pack(1) + b"\n")
    write(_HEADER.pack(0))


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
