"""Reading the emulator's request log once requests still in flight have landed."""

from __future__ import annotations

import time
from collections.abc import Callable

from amplitude_emulator import Emulator, RequestRecord

__all__ = ["wait_for_requests"]


def wait_for_requests(
    emu: Emulator,
    path: str,
    at_least: int,
    matching: Callable[[RequestRecord], bool] = lambda _: True,
    timeout: float = 15.0,
) -> list[RequestRecord]:
    """The log of ``path`` once it holds ``at_least`` requests ``matching``.

    A request the client gave up on (a read timeout) is still being served, and is logged only
    when the emulator answers it; wait for it rather than count too early.
    """
    deadline = time.monotonic() + timeout
    while True:
        log = emu.requests_to(path)
        if sum(1 for r in log if matching(r)) >= at_least or time.monotonic() > deadline:
            return log
        time.sleep(0.05)
