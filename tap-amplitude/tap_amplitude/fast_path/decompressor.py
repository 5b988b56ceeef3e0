"""Decompress an export in a process of its own while the tap parses what is already out.

A thread cannot do it: CPython's :mod:`gzip` reads 8 KB at a time and :mod:`zlib` grows its
output in small steps, each step taking the GIL back from the parsing thread, so the two threads
ran one after the other (benchmarks/README.md, issue 15: 200,000 events took as long with the
thread as without it). A child process (``gunzip_worker.py``, standard library only) unzips and
gunzips into a pipe enlarged to 1 MB, and the tap reads it a block at a time: on two cores the
decompression costs the tap's wall time almost nothing.

Where a child process cannot be used (no file descriptor to hand over, no POSIX ``pass_fds``,
process creation refused), the export is decompressed in the tap's process, with the same result.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import typing as t
from collections.abc import Generator
from functools import partial
from pathlib import Path

__all__ = ["WORKER", "DecompressorError", "can_use_worker", "start_worker", "worker_pieces"]

WORKER = Path(__file__).with_name("gunzip_worker.py")
PIPE_BYTES = 1 << 20  # the pipe's capacity asked for (Linux: up to /proc/sys/fs/pipe-max-size)


class DecompressorError(Exception):
    """The worker could not decompress an entry; the message names it."""


def can_use_worker(spool: t.BinaryIO) -> bool:
    """Whether ``spool`` can be handed to a worker process (a real file, a POSIX system)."""
    if os.name != "posix" or not sys.executable:
        return False
    try:
        spool.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def start_worker(spool: t.BinaryIO, size: int) -> subprocess.Popen[bytes] | None:
    """Start the worker on the zip ``spool``; None when no process can be started here (the
    caller then decompresses in its own process). Its stdout reads ``size`` bytes at a time."""
    fd = spool.fileno()
    try:
        worker = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script, a descriptor
            [sys.executable, "-I", "-S", str(WORKER), str(fd)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(fd,),
            bufsize=size,  # a read of `size` waits for that many bytes (or the end)
        )
    except OSError:  # e.g. process creation refused in a sandbox
        return None
    assert worker.stdout is not None
    _enlarge(worker.stdout)
    return worker


def worker_pieces(worker: subprocess.Popen[bytes], size: int) -> Generator[bytes, None, None]:
    """The decompressed text of every entry of the zip, in pieces of ``size`` bytes (the last
    may be shorter), from the ``worker`` started by :func:`start_worker`.

    Closing the generator early stops the worker. The worker reads the spool through its
    inherited descriptor: the caller must not read the spool until this generator is done.

    Raises:
        DecompressorError: an entry is not valid gzip, is truncated or fails its CRC.
    """
    assert worker.stdout is not None
    assert worker.stderr is not None
    try:
        yield from iter(partial(worker.stdout.read, size), b"")
        code = worker.wait()
        if code != 0:
            detail = worker.stderr.read().decode("utf-8", "replace").strip()
            raise DecompressorError(detail or f"the decompressing process exited with code {code}")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdout.close()
        worker.stderr.close()


def _enlarge(pipe: t.IO[bytes]) -> None:
    """Ask for a 1 MB pipe (64 KB by default on Linux): with the default the worker can run only
    64 KB ahead of the parser, and the two take turns instead of overlapping."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl  # noqa: PLC0415 - POSIX only

        set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
        if set_pipe_size is not None:
            fcntl.fcntl(pipe.fileno(), set_pipe_size, PIPE_BYTES)
