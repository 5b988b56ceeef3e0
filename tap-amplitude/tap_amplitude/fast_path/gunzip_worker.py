"""The export decompressor's own process: unzip, gunzip, write the JSON lines to stdout.

Run by :mod:`tap_amplitude.fast_path.decompressor` as ``python -I -S gunzip_worker.py FD ...``,
where FD is one end of a Unix socket pair, inherited open. The process lives for the whole run: for
each export it receives the spooled zip's descriptor over that socket (``SCM_RIGHTS``; one byte
of message), decompresses every entry and writes frames to stdout, then waits for the next
export. It ends when the socket is closed (the tap is done or gone). It imports the standard
library only (it runs without site-packages; msgspec and ISA-L's inflater are loaded from the
directory the command line names, when installed there): :mod:`zipfile` and :mod:`zlib` (or
ISA-L's ``isal_zlib``, the same interface) in gzip mode, which checks each member's CRC-32 and
length itself (several members in a row, zero padding between them, as :mod:`gzip` reads them).

Frames, each led by a 4-byte big-endian length: ``N`` then N bytes of whole lines (about
:data:`PIECE` bytes: each frame ends at a newline, the text after the last newline of a piece
leads the next frame, so the tap decodes a frame as it comes, without copying or regrouping
it); ``0``: the export is done; ``ERROR`` then a length and a UTF-8 message naming the entry
that cannot be decompressed (the export is over too). Every entry's text ends with a newline, so
a line never runs from one entry into the next.

Encoded frames (issue 23): the tap decodes, normalises and encodes every record itself, and
that, not decompressing, is what limits it; this process waited for it about half the time. So
for an export sent with the message byte ``e``, whenever the tap has fallen behind (at least
AHEAD bytes unread in the pipe: about two frames, ``ENCODE_AHEAD`` in the decompressor), this
process does the tap's work for the next frame itself and sends ``ENCODED``, the number of
records, a length, then the records as JSON lines, timestamps normalised: exactly the bytes the
tap's own encoder puts in its RECORD lines (the same msgspec, the same normalisation module
``tap_amplitude/timestamps.py``, loaded from its file since the package would import the SDK).
The command line names them: ``--path SITE_PACKAGES --encode TIMESTAMPS_FILE FIELDS AHEAD``.
A frame it cannot decode or normalise is sent as it is: the tap decodes it itself and reports
the error as it always does. Without ``--encode`` (or where msgspec cannot be imported) every
frame is sent as it is. The work balances itself: a tap that keeps up leaves the pipe nearly
empty and gets plain frames only.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import socket
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO

# Decompressed bytes per zlib call, so about the size of a frame: the tap decodes a frame at a
# time, and the records of about 128 KB stay in the CPU's caches from decoding to encoding
# (tap_amplitude.export_reader.DECODE_SIZE; the text after the last newline comes on top).
PIECE = 120 << 10
INPUT = 1 << 20  # compressed bytes read at a time
ERROR = 0xFFFFFFFF
ENCODED = 0xFFFFFFFE
YOUNG_THRESHOLD = 50_000  # as tap_amplitude.fast_path.gc_tuning (this process imports no package)
_HEADER = struct.Struct(">I")
_ENCODED_HEADER = struct.Struct(">III")
_GZIP = 16 + zlib.MAX_WBITS  # zlib's gzip mode: header, CRC-32 and length checked
# The inflater: zlib's, or ISA-L's (the `isal` distribution, a dependency of the tap on the
# machines it has wheels for: the same gzip checks, about twice as fast) when the command line
# names the directory it is installed in (``--path``). Its errors are refused as zlib's are.
_decompressobj: Callable[[int], Any] = zlib.decompressobj
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)


def decompress(fd: int, out: BinaryIO, encoder: FrameEncoder | None = None) -> None:
    """Write the frames of the zip open on ``fd`` to ``out`` (some of them encoded by
    ``encoder`` when given)."""
    write = out.write
    send = encoder.sender(out) if encoder is not None else None
    errors: tuple[type[Exception], ...] = (zipfile.BadZipFile, EOFError, OSError, *_INFLATE_ERRORS)
    with os.fdopen(fd, "rb") as spool, zipfile.ZipFile(spool) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                with archive.open(info) as member:
                    write_lines(gunzip(member), write, send)
            except errors as exc:
                message = f"entry {info.filename!r} cannot be decompressed ({exc})".encode()
                write(_HEADER.pack(ERROR) + _HEADER.pack(len(message)) + message)
                return
    write(_HEADER.pack(0))


def gunzip(member: IO[bytes]) -> Iterator[bytes]:
    """The text of the gzip data read from ``member``, in pieces of up to :data:`PIECE` bytes.

    One member or several in a row, with zero padding between them (what :class:`gzip.GzipFile`
    reads); zlib checks each member's CRC-32 and length.

    Raises:
        zlib.error: not gzip, or a failed CRC or length check (ISA-L's error with its
            inflater).
        EOFError: the data ends inside a member.
    """
    inflater = _decompressobj(_GZIP)
    between = False  # a member has ended: zero padding, the next member or the end may follow
    started = False  # a member has begun
    while chunk := member.read(INPUT):
        data = chunk
        while True:
            if between:
                data = data.lstrip(b"\0")
                if not data:
                    break
                inflater = _decompressobj(_GZIP)
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


def write_lines(
    pieces: Iterator[bytes],
    write: Callable[[bytes | memoryview], object],
    send: Callable[[bytes, memoryview], bool] | None = None,
) -> None:
    """Write ``pieces`` of text as frames of whole lines; the last ends with a newline.

    ``send``, when given, is offered each frame first (its text: the lines carried over, then
    the rest) and answers whether it wrote it (encoded).
    """
    tail = b""  # the text after the last newline written
    for piece in pieces:
        cut = piece.rfind(b"\n") + 1
        if not cut:  # a line longer than a piece
            tail += piece
            continue
        with memoryview(piece) as view:
            if send is None or not send(tail, view[:cut]):
                write(_HEADER.pack(len(tail) + cut) + tail)
                write(view[:cut])
        tail = piece[cut:]
    if tail:
        tail += b"\n"
        if send is None or not send(b"", memoryview(tail)):
            write(_HEADER.pack(len(tail)) + tail)


class FrameEncoder:
    """The tap's record work for one frame: decode the JSON lines, normalise the timestamp
    fields, encode the records as JSON lines (what the tap's RecordLineEncoder puts between its
    envelopes)."""

    def __init__(self, timestamps_file: str, fields: tuple[str, ...], ahead: int) -> None:
        msgspec: Any = importlib.import_module("msgspec")
        spec = importlib.util.spec_from_file_location("_tap_amplitude_timestamps", timestamps_file)
        if spec is None or spec.loader is None:
            raise ImportError(timestamps_file)
        timestamps: Any = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(timestamps)
        self._decode_lines = msgspec.json.Decoder().decode_lines
        # The tap's encoder has the SDK's enc_hook, which decoded JSON never calls.
        self._encode_lines = msgspec.json.Encoder(decimal_format="number").encode_lines
        self._normalize = timestamps.normalize_records
        self._fields = fields
        self._ahead = ahead  # unread bytes in the pipe from which a frame is encoded here
        self.enabled = False  # per export: the tap's message byte
        # Decoding allocates many short-lived, acyclic containers: collect the young generation
        # as rarely as the tap does (tap_amplitude.fast_path.gc_tuning), or every few records.
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    def encode(self, text: bytes | memoryview) -> tuple[int, bytes] | None:
        """The number of records and their encoded lines; None if the tap must do it."""
        try:
            records = self._decode_lines(text)
            self._normalize(records, self._fields)
            return len(records), self._encode_lines(records)
        except Exception:  # the tap decodes this frame itself, errors included
            return None

    def sender(self, out: BinaryIO) -> Callable[[bytes, memoryview], bool] | None:
        """A ``send`` for :func:`write_lines`: encodes the frame when the tap is behind."""
        if not self.enabled:
            return None
        fd = out.fileno()

        def send(tail: bytes, rest: memoryview) -> bool:
            if _unread(fd) < self._ahead:
                return False
            encoded = self.encode(tail + rest if tail else rest)
            if encoded is None:
                return False
            count, lines = encoded
            out.write(_ENCODED_HEADER.pack(ENCODED, count, len(lines)))
            out.write(lines)
            return True

        return send


def _unread(fd: int) -> int:
    """Bytes written to the pipe ``fd`` and not read yet (0 where that cannot be asked)."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
        import termios  # noqa: PLC0415

        answer = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except (ImportError, OSError):
        return 0
    return int(struct.unpack("i", answer)[0])


def _options(argv: list[str]) -> FrameEncoder | None:
    """Apply the command line after FD: ``--path DIR`` (the tap's site-packages: ISA-L's
    inflater and msgspec are imported from there when they are installed), ``--encode
    TIMESTAMPS_FILE FIELDS AHEAD`` (the frame encoder, returned; None without it, or when it
    cannot be loaded: every frame is then sent as it is)."""
    global _decompressobj, _INFLATE_ERRORS  # noqa: PLW0603 - chosen once, at start
    path, encode = None, None
    rest = argv[2:]
    while rest:
        if rest[0] == "--path":
            path, rest = rest[1], rest[2:]
        elif rest[0] == "--encode":
            encode, rest = rest[1:4], rest[4:]
        else:
            rest = rest[1:]
    if path is not None:
        sys.path.append(path)
        isal_zlib: Any
        try:
            isal_zlib = importlib.import_module("isal.isal_zlib")
        except Exception:  # not installed (or not loadable here): zlib's inflater
            isal_zlib = None
        if isal_zlib is not None:
            _decompressobj = isal_zlib.decompressobj
            _INFLATE_ERRORS = (zlib.error, isal_zlib.error)
    if encode is None or len(encode) != 3:
        return None
    timestamps_file, fields, ahead = encode
    try:
        return FrameEncoder(timestamps_file, tuple(fields.split(",")), int(ahead))
    except Exception:  # the tap does the work itself then
        return None


def main(argv: list[str]) -> int:
    """Serve exports sent over the socket on descriptor ``argv[1]`` until it is closed."""
    out = sys.stdout.buffer
    encoder = _options(argv)
    with socket.socket(fileno=int(argv[1])) as control:
        while True:
            message, fds, _, _ = socket.recv_fds(control, 1, 1)
            if not message or not fds:
                return 0
            if encoder is not None:
                encoder.enabled = message == b"e"
            try:
                decompress(fds[0], out, encoder)
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
