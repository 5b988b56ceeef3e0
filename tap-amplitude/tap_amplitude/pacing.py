"""Pacing a run within Amplitude's documented rate limits: one sliding window (SlidingWindow),
the same in both plugins (target_amplitude/pacing.py; tests/test_shared_concepts.py checks that
they agree).

Here: the Taxonomy API's cost budget per hour (7,200 cost per hour per project, a GET costs 1;
over it every request is refused with 429 until the hour has passed; the tap's taxonomy requests
run one at a time, so the other limit, 4 cost at the same time, is never reached) and the cohort
download's 60 Get-one-cohort requests per 10 minutes (:mod:`tap_amplitude.cohort_limits`). Both
keep a run within the limit by waiting instead of being refused.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TAXONOMY_COST_PER_HOUR", "CostBudget", "SlidingWindow"]

# Taxonomy API docs (Limits): "Period Cost Limit: ... 7200 cost per hour"; GET costs 1.
TAXONOMY_COST_PER_HOUR = 7200
HOUR = 3600.0


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


class CostBudget:
    """At most ``per_hour`` cost in any sliding ``window`` (seconds; an hour unless given);
    :meth:`spend` waits when it would pass."""

    def __init__(
        self,
        per_hour: int,
        *,
        window: float = HOUR,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_hour = per_hour  # the cost allowed per window (named for the first use)
        self.window = window
        self._window = SlidingWindow(per_hour, window, clock=clock, sleep=sleep)
        self._lock = threading.Lock()
        self.spent_total = 0

    def wait_needed(self) -> float:
        """Seconds until one more unit fits in the sliding window (0: now)."""
        return self._window.wait_needed()

    def spend(self) -> float:
        """Take one unit, waiting first if the window's budget is used up; returns the wait."""
        with self._lock:
            waited = self._window.wait()
            self._window.spend()
            self.spent_total += 1
            return waited
