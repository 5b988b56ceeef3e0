"""The export decompressor's own process: unzip, gunzip, write the JSON lines to stdout.

Run by :mod:`tap_amplitude.fast_path.decompressor` as ``python -I -S gunzip_worker.py FD``,
where FD is the spooled export (a zip of gzip files), inherited open. Standard library only (it
runs without site-packages): :mod:`zipfile` and :mod:`gzip` (several members in a row, zero
padding between them, each member's CRC and length checked). Every entry's text ends with a
newline, so a line never runs from one entry into the next.

Exit codes: 0 done; 3 an entry cannot be decompressed, with one line on stderr naming it.
"""

from __future__ import annotations

import gzip
import os
import sys
import zipfile
import zlib

PIECE = 1 << 20  # decompressed bytes per write to the pipe
CANNOT_DECOMPRESS = 3


def main(argv: list[str]) -> int:
    """Decompress every file entry of the zip open on descriptor ``argv[1]`` to stdout."""
    out = sys.stdout.buffer
    with os.fdopen(int(argv[1]), "rb", closefd=False) as spool, zipfile.ZipFile(spool) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            last = b"\n"
            try:
                with archive.open(info) as member, gzip.GzipFile(fileobj=member) as text:
                    while piece := text.read(PIECE):
                        out.write(piece)
                        last = piece[-1:]
            except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
                out.flush()
                sys.stderr.write(f"entry {info.filename!r} cannot be decompressed ({exc})\n")
                return CANNOT_DECOMPRESS
            if last != b"\n":
                out.write(b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:  # the tap stopped reading (an early exit): nothing left to do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        sys.exit(0)
