"""Run an iterator a few items ahead in a background thread.

Used to decompress the next blocks of an export while the current one is parsed: zlib and the
CRC checks release the GIL, so on two cores the work overlaps.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")

_POLL_SECONDS = 0.1  # how often a blocked producer checks whether the consumer went away


class _End:
    """The producer's last item: the iterator is exhausted, or raised ``error``."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def prefetch(items: Iterator[T], *, depth: int, name: str) -> Generator[T, None, None]:
    """Yield the items of ``items``, produced by a thread up to ``depth`` items ahead.

    An exception raised by ``items`` is raised here, at its place in the sequence. When the
    consumer stops early (``close()``, an exception), the thread stops after its current item
    and closes ``items`` before this generator's ``close()`` returns.
    """
    ready: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        end = _End(None)
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            end = _End(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        offer(end)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
