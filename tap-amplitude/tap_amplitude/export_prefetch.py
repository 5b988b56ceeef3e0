"""Export windows downloaded ahead of the one being read: Amplitude's export latency hidden.

An export can take Amplitude seconds to minutes to assemble; reading it (unzip, parse, write)
takes the tap about as long again. :func:`downloads_ahead` hands out the windows of a plan in
order, each with a :class:`Pending` download, and keeps up to ``ahead`` later windows requested
and spooled to disk in background threads while the caller reads the current one.

The rules it keeps:
- order: windows are handed out strictly in plan order, so bookmarks (written by the caller
  after each window) advance in window order exactly as without prefetch;
- bounds: at most ``ahead + 1`` downloads exist at once (the window being read and ``ahead``
  after it), hence at most ``ahead + 1`` export requests in flight and spooled files on disk;
  a window is requested only once the caller has moved past the window ``ahead + 1`` before it;
- failures: a download's exception is raised by :meth:`Pending.result` when the caller reaches
  that window, after every earlier window was read and its bookmark written: the same error,
  at the same place in the output, as without prefetch;
- early exit: closing the generator discards the windows not yet read (their spooled files are
  closed as soon as their downloads end; their threads are daemons, never waited for).

``ahead=0`` downloads each window in the caller's thread when its result is asked for: exactly
the sequential behaviour, no thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Generic, TypeVar

__all__ = ["Pending", "downloads_ahead"]

W = TypeVar("W")
R = TypeVar("R")


class Pending(Generic[R]):
    """The download of one window: run now by :meth:`result` (inline) or by a thread."""

    def __init__(self, fetch: Callable[[], R], *, discard: Callable[[R], None]) -> None:
        self._fetch = fetch
        self._discard = discard
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: R | None = None
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        """Download in a daemon thread from now on."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            value = self._fetch()
        except BaseException as exc:  # raised by result(), in the caller's thread
            self._error = exc
        else:
            with self._lock:
                abandoned = self._abandoned
                if not abandoned:
                    self._value = value
            if abandoned:
                self._discard(value)
        finally:
            self._done.set()

    def result(self) -> R:
        """The download's result (waiting for its thread), or its exception raised here."""
        if self._thread is None and not self._done.is_set():
            self._run()
        self._done.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        value = self._value
        self._value = None
        return value  # type: ignore[return-value]

    def abandon(self) -> None:
        """The caller will never read this window: discard its result once it exists."""
        with self._lock:
            self._abandoned = True
            value, self._value = self._value, None
        if value is not None:
            self._discard(value)


def downloads_ahead(
    windows: Iterable[W],
    fetch: Callable[[W], Callable[[], R]],
    *,
    ahead: int,
    discard: Callable[[R], None],
    name: str = "export-download",
) -> Generator[tuple[W, Pending[R]], None, None]:
    """Yield ``(window, pending download)`` in plan order, up to ``ahead`` windows requested
    early.

    ``fetch(window)`` is called in the caller's thread, in window order, when the window's
    download is started; it returns the function that downloads (run in a thread when
    ``ahead > 0``). ``discard`` releases a result nobody will read (closes a spooled file).
    """
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    plan = iter(windows)
    started: deque[tuple[W, Pending[R]]] = deque()

    def start_next() -> bool:
        for window in plan:
            pending = Pending(fetch(window), discard=discard)
            if ahead:
                pending.start(name)
            started.append((window, pending))
            return True
        return False

    current: Pending[R] | None = None
    try:
        while started or start_next():
            # The window handed out now, and up to `ahead` after it, are started.
            while len(started) < ahead + 1 and start_next():
                pass
            window, current = started.popleft()
            yield window, current
            current = None
    finally:
        if current is not None:  # handed out, but the caller stopped before reading it
            current.abandon()
        for _, pending in started:
            pending.abandon()
        started.clear()
