"""The cohort download's limits per project, and its Get usage answer.

Behavioral Cohorts API docs (amplitude/amplitude-docs, content/collections/api/en/
behavioral-cohorts.md, "Considerations"; the live page amplitude.com/docs/apis/analytics/
behavioral-cohorts):
- "60 requests per 10 minutes per app, and 4 parallel request per minute per app" to request a
  single cohort: a 61st Get-one-cohort request in a sliding 10 minutes, or a 5th in flight, is
  refused with 429 (Amplitude's status for its other rate limits; the body is our choice).
- "a limit of 500 requests per month. Each Get one cohort request counts toward this limit. Use
  the Get usage endpoint to check your current usage": every Get-one-cohort request counts; over
  500 in the month, 429. ``GET /api/3/cohorts/usage`` answers ``{"rest_download": {"limit",
  "usage", "resets_at"}}``: the path and field names as third-party clients read them (the
  endpoint's section of the docs page was not in the fetched docs source).
- "a maximum cohort size of 2 million users": a larger cohort's request is counted, then refused
  with 400 (the docs send such cohorts to cohort sync; the answer is our choice).
Time comes from ``clock`` (``time.monotonic`` unless a test shares a fake one with the tap).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_COHORT_MEMBERS",
    "MONTHLY_REQUESTS",
    "PARALLEL",
    "PER_WINDOW",
    "WINDOW_SECONDS",
    "CohortLimits",
]

PER_WINDOW = 60
WINDOW_SECONDS = 600.0
PARALLEL = 4
MONTHLY_REQUESTS = 500
MAX_COHORT_MEMBERS = 2_000_000


@dataclass
class CohortLimits:
    """One project's Get-one-cohort requests: the sliding window, those in flight, the month."""

    clock: Callable[[], float] = time.monotonic
    per_window: int = PER_WINDOW
    window: float = WINDOW_SECONDS
    parallel: int = PARALLEL
    monthly: int = MONTHLY_REQUESTS
    used: int = 0  # this month's requests (tests may set it)
    in_flight: int = 0
    started: deque[float] = field(default_factory=deque)
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> str | None:
        """Count one request; a message (answered 429) when it is over a limit."""
        with self._lock:
            now = self.clock()
            while self.started and now - self.started[0] >= self.window:
                self.started.popleft()
            if self.used >= self.monthly:
                self.refused += 1
                return f"Monthly cohort download limit of {self.monthly} requests reached"
            if self.in_flight >= self.parallel:
                self.refused += 1
                return f"Too many parallel cohort requests: the limit is {self.parallel}"
            if len(self.started) >= self.per_window:
                self.refused += 1
                return (
                    f"Too many cohort requests: the limit is {self.per_window} per "
                    f"{self.window / 60:g} minutes"
                )
            self.started.append(now)
            self.used += 1
            self.in_flight += 1
            return None

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def usage_body(self, today: datetime) -> dict[str, Any]:
        """The Get usage answer: this month's requests and when the count resets."""
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        resets = datetime(year, month, 1, tzinfo=UTC)
        with self._lock:
            used = self.used
        return {
            "rest_download": {
                "limit": self.monthly,
                "usage": used,
                "resets_at": resets.isoformat().replace("+00:00", "Z"),
            }
        }
