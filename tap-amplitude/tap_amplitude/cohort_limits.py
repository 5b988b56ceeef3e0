"""Amplitude's documented limits on cohort downloads, kept by waiting (never by failing).

Behavioral Cohorts API docs (amplitude/amplitude-docs, content/collections/api/en/
behavioral-cohorts.md, "Considerations"; amplitude.com/docs/apis/analytics/behavioral-cohorts):

- "There is limit on Cohort Download to request a single cohort: 60 requests per 10 minutes per
  app, and 4 parallel request per minute per app." -> :class:`CohortRequestPacer`: each
  Get-one-cohort request (``/api/5/cohorts/request/:id``, every attempt) waits for one of 60
  places in a sliding 10 minutes (the :class:`tap_amplitude.pacing.CostBudget` mechanism the
  taxonomy uses) and holds one of 4 parallel slots while it is in flight.
- "Amplitude supports a maximum cohort size of 2 million users. For cohorts larger than this,
  consider ... a cohort sync" -> :data:`MAX_COHORT_MEMBERS` (the plan skips larger cohorts).
- "For Growth and Enterprise plans, the Behavioral Cohorts Download API has a limit of 500
  requests per month. Each Get one cohort request counts toward this limit. Use the Get usage
  endpoint to check your current usage." (the live page) -> :func:`parse_usage` reads that
  answer; the stream starts no download once the month's requests are spent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tap_amplitude.pacing import CostBudget

__all__ = [
    "COHORT_PARALLEL_REQUESTS",
    "COHORT_REQUESTS_PER_WINDOW",
    "COHORT_REQUEST_WINDOW",
    "MAX_COHORT_MEMBERS",
    "MONTHLY_COHORT_DOWNLOADS",
    "CohortRequestPacer",
    "CohortUsage",
    "parse_usage",
]

COHORT_REQUESTS_PER_WINDOW = 60  # Get-one-cohort requests ...
COHORT_REQUEST_WINDOW = 600.0  # ... per 10 minutes per project
COHORT_PARALLEL_REQUESTS = 4  # in flight at once per project
MAX_COHORT_MEMBERS = 2_000_000  # the largest cohort Amplitude's download serves
MONTHLY_COHORT_DOWNLOADS = 500  # Get-one-cohort requests per month (Growth, Enterprise)


class CohortRequestPacer:
    """One per run: Get-one-cohort requests within 60 per sliding 10 minutes and 4 at once."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self.budget = CostBudget(
            COHORT_REQUESTS_PER_WINDOW, window=COHORT_REQUEST_WINDOW, clock=clock, sleep=sleep
        )
        self._parallel = threading.BoundedSemaphore(COHORT_PARALLEL_REQUESTS)

    @property
    def requested(self) -> int:
        """Get-one-cohort requests started this run (each counts toward the monthly 500)."""
        return self.budget.spent_total

    @contextmanager
    def request(self) -> Iterator[float]:
        """Around one request: a parallel slot and a place in the window; yields the seconds
        waited for them (0 when neither was full)."""
        started = self._clock()
        self._parallel.acquire()
        try:
            waited = self._clock() - started
            waited += self.budget.spend()
            yield waited
        finally:
            self._parallel.release()


@dataclass(frozen=True, slots=True)
class CohortUsage:
    """This month's Get-one-cohort requests, as Amplitude's Get usage endpoint reports them."""

    used: int
    limit: int
    resets_at: str | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_usage(body: Any) -> CohortUsage | None:
    """The monthly download usage of a Get usage answer; None when its shape is not known.

    The fields are read where clients of the endpoint find them: ``{"rest_download": {"limit",
    "usage", "resets_at"}}``, or the same keys (``used``/``remaining`` too) at the top level.
    """
    if not isinstance(body, Mapping):
        return None
    for scope in (body.get("rest_download"), body.get("data"), body):
        if not isinstance(scope, Mapping):
            continue
        limit = _count(scope.get("limit"))
        used = _count(scope.get("usage", scope.get("used")))
        remaining = _count(scope.get("remaining"))
        if used is None and limit is not None and remaining is not None:
            used = limit - remaining
        if limit is None and used is not None and remaining is not None:
            limit = used + remaining
        if limit is not None and used is not None:
            resets = scope.get("resets_at")
            return CohortUsage(used, limit, str(resets) if resets else None)
    return None
