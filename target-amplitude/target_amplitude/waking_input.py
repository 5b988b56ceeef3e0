"""Standard input that wakes the target while the tap is quiet.

The target emits a STATE once the batches before it are answered (checkpoint.Checkpoint).
If the tap then goes quiet (an export being assembled, a slow query), the target would sit in
a read of standard input with that STATE held, and records kept for a batch that is not full.
Here a read that would block waits on standard input and on a self-pipe at once:
- each answered batch writes a byte to the pipe (from a lane thread), and the read runs
  `on_wake` (the target completes the answered batches and emits the STATEs they free);
- after LINGER_SECONDS without input it runs `on_idle` once (the target hands off the batches
  it holds, so their STATE follows as soon as Amplitude answers).
Both run in the target's own thread, between two messages. With input waiting, nothing changes
but one select() per read of the buffer.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import stat
import time
import typing as t
import weakref

# Bytes read from standard input at once (the SDK's default is 8 KB).
READ_SIZE = 1 << 20
# Seconds without input before the target hands off the batches it holds.
LINGER_SECONDS = 1.0


class CompletionSignal:
    """A self-pipe: notify() from any thread, fileno() is readable until clear().

    POSIX only (where waking_stdin uses it); elsewhere notify() does nothing. The pipe is closed
    by close(), or when the signal is garbage-collected (a target built but never run).
    """

    def __init__(self) -> None:
        self._read = self._write = -1
        if os.name == "posix":
            self._read, self._write = os.pipe()
            os.set_blocking(self._read, False)
            os.set_blocking(self._write, False)
        self._finalizer = weakref.finalize(self, _close_fds, self._read, self._write)

    def fileno(self) -> int:
        """The read end, for select()."""
        return self._read

    def notify(self) -> None:
        """Wake the reader (a full pipe already will: nothing is lost)."""
        if self._write >= 0:
            with contextlib.suppress(OSError):  # BlockingIOError: full; EBADF: closed
                os.write(self._write, b"\0")

    def clear(self) -> None:
        """Consume the pending wake-ups."""
        with contextlib.suppress(OSError):
            while os.read(self._read, 4096):
                pass

    def close(self) -> None:
        """Close both ends (after the lanes have stopped: see Checkpoint.close)."""
        self._read = self._write = -1
        self._finalizer()


def _close_fds(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class _WakingRaw(io.RawIOBase):
    """Raw reads of `fd` that run on_wake and on_idle while waiting for input."""

    def __init__(self, fd: int, signal: CompletionSignal, hooks: InputHooks) -> None:
        super().__init__()
        self._fd = fd
        self._signal = signal
        self._hooks = hooks

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        wake = self._signal.fileno()
        idle_at: float | None = time.monotonic() + LINGER_SECONDS
        while True:
            timeout = None if idle_at is None else max(0.0, idle_at - time.monotonic())
            ready, _, _ = select.select([self._fd, wake], [], [], timeout)
            if not ready:
                idle_at = None  # once per wait
                self._hooks.on_idle()
                continue
            if wake in ready:
                self._signal.clear()
                self._hooks.on_wake()
            if self._fd in ready:
                return os.readv(self._fd, [buffer])


class InputHooks(t.Protocol):
    """What the target runs while standard input is quiet."""

    def on_wake(self) -> None:
        """A batch was answered: complete it, emit the STATEs it frees."""

    def on_idle(self) -> None:
        """No input for LINGER_SECONDS: hand off the batches held."""


def waking_stdin(stdin: t.Any, signal: CompletionSignal, hooks: InputHooks) -> t.IO[bytes] | None:
    """Standard input as a buffered binary file read READ_SIZE at a time; None if not a file.

    It waits on the signal too where standard input can block (a pipe, a socket or a terminal,
    on a POSIX system: Windows' select() takes sockets only); a regular file never blocks.
    """
    try:
        fd = stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    if os.name == "posix" and (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        if stat.S_ISFIFO(mode):
            _enlarge_pipe(fd)
        return io.BufferedReader(_WakingRaw(fd, signal, hooks), buffer_size=READ_SIZE)
    # Fewer, larger reads: each one lets the lanes take the GIL, and waits to get it back.
    return open(fd, "rb", buffering=READ_SIZE, closefd=False)  # standard input stays open


def _enlarge_pipe(fd: int) -> None:
    """A pipe from the tap holding READ_SIZE (Linux; 64 KB by default, at most
    /proc/sys/fs/pipe-max-size): the tap writes and the target reads a megabyte per switch."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl  # noqa: PLC0415 - POSIX only

        set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
        if set_pipe_size is not None:
            fcntl.fcntl(fd, set_pipe_size, READ_SIZE)
