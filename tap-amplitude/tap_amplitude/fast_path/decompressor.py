"""Decompress exports in a process of its own while the tap parses what is already out.

A thread cannot do it: CPython's :mod:`gzip` reads 8 KB at a time and :mod:`zlib` grows its
output in small steps, each step taking the GIL back from the parsing thread, so the two threads
ran one after the other (benchmarks/README.md, issue 15: 200,000 events took as long with the
thread as without it). A child process (``gunzip_worker.py``, standard library only) unzips and
gunzips into a pipe enlarged to 1 MB, and the tap reads it a frame at a time: on two cores the
decompression costs the tap's wall time almost nothing. Each frame holds whole lines, about as
many as the tap decodes at a time; the tap reads it straight into a buffer it reuses and decodes
it there, with no copy and no regrouping of lines (issue 23).

One worker serves every export of a run (issue 23): the spooled zip's descriptor is handed to it
over a Unix socket. Starting a process per window cost each window an interpreter start (20 ms
on a quiet machine, half a second on a loaded one: 24 hourly windows took twice as long as one
window of 24 hours). The worker ends when the tap closes the socket or exits; a worker left in
the middle of an export (the tap stopped reading early) is stopped, and the next export starts
a new one.

The worker can also take some of the tap's own work (issue 23): for an export asked with
``encode=True`` it decodes, normalises and encodes a frame itself whenever the tap has fallen
behind, and the tap gets that frame as :class:`EncodedLines` (the records' JSON lines, to be put
in RECORD envelopes as they are). On two cores the tap and the worker then share the per-record
work instead of the worker waiting half the time; a tap that keeps up gets plain frames only.

Where a child process cannot be used (no file descriptor to hand over, no POSIX descriptor
passing, process creation refused), the export is decompressed in the tap's process, with the
same result.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import typing as t
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from tap_amplitude import timestamps

__all__ = [
    "ENCODE_AHEAD",
    "WORKER",
    "DecompressorError",
    "EncodedLines",
    "Worker",
    "can_use_worker",
    "shared_worker",
    "start_shared_worker",
]

WORKER = Path(__file__).with_name("gunzip_worker.py")
PIPE_BYTES = 1 << 20  # the pipe's capacity asked for (Linux: up to /proc/sys/fs/pipe-max-size)
FRAME_BUFFER = 256 << 10  # the reused frame buffer (a frame is about 120 KB: grown when needed)
_HEADER = struct.Struct(">I")
_ERROR = 0xFFFFFFFF
_ENCODED = 0xFFFFFFFE
# Unread bytes in the pipe from which the worker encodes the next frame itself (for an export
# asked with encode=True): about two frames, what the tap still has to do before it reads again.
ENCODE_AHEAD = 240 << 10


class DecompressorError(Exception):
    """The worker could not decompress an entry; the message names it."""


@dataclass(frozen=True)
class EncodedLines:
    """A frame the worker encoded: ``count`` records as JSON lines (each ending with a
    newline), their ``EXPORT_TIMESTAMP_FIELDS`` normalised: the bytes the tap's
    RecordLineEncoder puts between its envelopes. A fresh buffer, not reused."""

    count: int
    lines: bytearray


def _can_start() -> bool:
    """A POSIX system that passes descriptors over sockets, an interpreter to start."""
    return os.name == "posix" and bool(sys.executable) and hasattr(socket, "send_fds")


def can_use_worker(spool: t.BinaryIO) -> bool:
    """Whether ``spool`` can be handed to a worker process (a real file, a POSIX system that
    passes descriptors over sockets)."""
    if not _can_start():
        return False
    try:
        spool.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class Worker:
    """One decompressing process, fed one export at a time."""

    def __init__(self, process: subprocess.Popen[bytes], control: socket.socket) -> None:
        self._process = process
        self._control = control
        self.busy = False

    @classmethod
    def start(cls) -> Worker | None:
        """A new worker; None when no process can be started here (the caller then
        decompresses in its own process)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script, a socket
                [sys.executable, "-I", "-S", str(WORKER), str(theirs.fileno()), *_worker_args()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                bufsize=0,  # frames are read straight into the frame buffer
            )
        except OSError:  # e.g. process creation refused in a sandbox
            ours.close()
            return None
        finally:
            theirs.close()
        assert process.stdout is not None
        _enlarge(process.stdout)
        return cls(process, ours)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def frames(
        self, spool: t.BinaryIO, *, encode: bool = False
    ) -> Generator[memoryview | EncodedLines, None, None]:
        """The decompressed text of every entry of the zip ``spool``, in frames of whole lines
        (about 120 KB each; every entry's text ends with a newline).

        Each frame is a view of a buffer reused for the next one: use it before asking for the
        next (``bytes(frame)`` keeps a copy). With ``encode``, some frames may come as
        :class:`EncodedLines` instead (the worker did the tap's work for them). The worker reads
        the spool through a copy of its descriptor (same file position): the caller must not
        read the spool until this generator is done. Closing the generator early stops the worker.

        Raises:
            DecompressorError: an entry is not valid gzip, is truncated or fails its CRC.
        """
        out = self._process.stdout
        assert out is not None
        finished = False
        header = bytearray(_HEADER.size)
        buffer = bytearray(FRAME_BUFFER)
        try:
            try:
                socket.send_fds(self._control, [b"e" if encode else b"x"], [spool.fileno()])
            except OSError as exc:
                raise DecompressorError(f"the decompressing process is gone ({exc})") from None
            while True:
                _read_into(out, header)
                size = _HEADER.unpack(header)[0]
                if size == 0:
                    finished = True
                    return
                if size == _ENCODED:
                    _read_into(out, header)
                    count = _HEADER.unpack(header)[0]
                    _read_into(out, header)
                    lines = bytearray(_HEADER.unpack(header)[0])
                    _read_into(out, lines)
                    yield EncodedLines(count, lines)
                    continue
                if size == _ERROR:
                    _read_into(out, header)
                    message = bytearray(_HEADER.unpack(header)[0])
                    _read_into(out, message)
                    finished = True
                    raise DecompressorError(message.decode("utf-8", "replace"))
                if size > len(buffer):  # a new buffer: views of the old one may still exist
                    buffer = bytearray(size)
                frame = memoryview(buffer)[:size]
                _read_into(out, frame)
                yield frame
        finally:
            if not finished:  # stopped mid-export: its remaining frames would follow
                self.stop()

    def stop(self) -> None:
        """End the process (closing the socket ends it; killed if it is mid-export)."""
        with contextlib.suppress(OSError):
            self._control.close()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _worker_args() -> list[str]:
    """The worker's options: ``--path``, the directory msgspec is installed in (the worker runs
    without site-packages; it imports msgspec, and ISA-L's inflater where installed, from
    there), then ``--encode``: the timestamp module's file, the fields it normalises,
    ENCODE_AHEAD."""
    return [
        "--path",
        str(Path(msgspec.__file__).parent.parent),
        "--encode",
        str(Path(timestamps.__file__)),
        ",".join(timestamps.EXPORT_TIMESTAMP_FIELDS),
        str(ENCODE_AHEAD),
    ]


def _read_into(out: t.IO[bytes], target: bytearray | memoryview) -> None:
    """Fill ``target`` from the pipe (a read may return part of what was asked)."""
    with memoryview(target) as view:
        done, size = 0, len(view)
        while done < size:
            count = out.readinto(view[done:])  # type: ignore[attr-defined]
            if not count:
                raise DecompressorError(
                    "the decompressing process stopped in the middle of an export"
                )
            done += count


_shared: Worker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> tuple[Worker | None, bool]:
    """The run's worker (started at the first call), reserved (``busy``: the caller sets it back
    when done), and whether it is the shared one; a worker of its own for a caller that finds
    the shared one busy (the caller stops that one when done). None: no process can be started
    here."""
    global _shared  # noqa: PLW0603 - one worker process per tap process
    with _shared_lock:
        if _shared is not None and _shared.alive and not _shared.busy:
            _shared.busy = True  # the caller sets it back to False when done
            return _shared, True
        if _shared is None or not _shared.alive:
            _shared = Worker.start()
            if _shared is not None:
                _shared.busy = True
            return _shared, True
    return Worker.start(), False


def start_shared_worker() -> None:
    """Start the run's worker now, not reserved, when none is running: its interpreter starts
    while the first export downloads, not after (the events stream calls it before each
    download; it does nothing once the worker runs)."""
    global _shared  # noqa: PLW0603 - one worker process per tap process
    if not _can_start():
        return
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = Worker.start()


@atexit.register
def _stop_shared() -> None:
    if _shared is not None:
        _shared.stop()


def _enlarge(pipe: t.IO[bytes]) -> None:
    """Ask for a 1 MB pipe (64 KB by default on Linux): with the default the worker can run only
    64 KB ahead of the parser, and the two take turns instead of overlapping."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl  # noqa: PLC0415 - POSIX only

        set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
        if set_pipe_size is not None:
            fcntl.fcntl(pipe.fileno(), set_pipe_size, PIPE_BYTES)
