"""Pacing against a cost budget per sliding window: the Taxonomy API's (7,200 cost per hour per
project, a GET costs 1; over it every request is refused with 429 until the hour has passed) and
the cohort download's (60 Get-one-cohort requests per 10 minutes per project, see
:mod:`tap_amplitude.cohort_limits`).

The tap's taxonomy requests run one at a time, so the Taxonomy API's other limit (4 cost at the
same time) is never reached; this keeps a run within the hourly one by waiting instead of being
refused.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TAXONOMY_COST_PER_HOUR", "CostBudget"]

# Taxonomy API docs (Limits): "Period Cost Limit: ... 7200 cost per hour"; GET costs 1.
TAXONOMY_COST_PER_HOUR = 7200
HOUR = 3600.0


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
        self._clock, self._sleep = clock, sleep
        self._spent: deque[float] = deque()
        self._lock = threading.Lock()
        self.spent_total = 0

    def wait_needed(self) -> float:
        """Seconds until one more unit fits in the sliding window (0: now)."""
        now = self._clock()
        while self._spent and now - self._spent[0] >= self.window:
            self._spent.popleft()
        if len(self._spent) < self.per_hour:
            return 0.0
        return self.window - (now - self._spent[0])

    def spend(self) -> float:
        """Take one unit, waiting first if the window's budget is used up; returns the wait."""
        with self._lock:
            waited = 0.0
            while (wait := self.wait_needed()) > 0:
                self._sleep(wait)
                waited += wait
            self._spent.append(self._clock())
            self.spent_total += 1
            return waited
