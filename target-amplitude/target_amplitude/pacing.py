"""Pacing requests within Amplitude's documented rate limits: one sliding window
(SlidingWindow), the same in both plugins (tap_amplitude/pacing.py; tests/test_shared_concepts.py
checks that they agree).

Here: the admin endpoints' limits (admin_client.AdminEndpoint.pace_units per pace_seconds: the
User Privacy API's requests per second, /usermap's mappings per window), counted from when each
answer arrived (admin_delivery.AdminSender).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` units in any window of ``seconds``: :meth:`wait` blocks until ``units``
    more fit, :meth:`spend` counts them as of now.

    A unit leaves the window ``seconds`` after it was spent. One request larger than the limit
    is let through once the window is empty. Call ``spend`` when the request is sent (the tap:
    Amplitude counts what it receives) or when it is answered (the target: Amplitude, which sees
    a request after it is sent, then never sees two closer than the limit).
    """

    def __init__(
        self,
        limit: int,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock, self._sleep = clock, sleep
        self._spent: deque[tuple[float, int]] = deque()
        self._used = 0

    def wait_needed(self, units: int = 1) -> float:
        """Seconds until ``units`` more fit in the window (0: now)."""
        now = self._clock()
        spent = self._spent
        while spent and now - spent[0][0] >= self.seconds:
            self._used -= spent.popleft()[1]
        if not spent or self._used + units <= self.limit:
            return 0.0
        return spent[0][0] + self.seconds - now

    def wait(self, units: int = 1) -> float:
        """Block until ``units`` more fit; returns the seconds waited."""
        waited = 0.0
        while (needed := self.wait_needed(units)) > 0:
            self._sleep(needed)
            waited += needed
        return waited

    def spend(self, units: int = 1) -> None:
        """Count ``units`` as of now."""
        self._spent.append((self._clock(), units))
        self._used += units
