"""How long to wait between attempts (pure): exponential backoff with full jitter, honouring
Retry-After, bounded in attempts and in time.

:func:`retry_waits` is the wait generator handed to the SDK's backoff decorator
(``RESTStream.backoff_wait_generator``). backoff sends it every exception; when the generator
stops, backoff gives up and re-raises that exception (python-backoff 3.0.0 ``_sync.py``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

__all__ = ["RetryPolicy", "retry_waits"]


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a transient failure (from the settings)."""

    max_attempts: int
    max_time: float
    base: float
    cap: float
    # A Retry-After above this is capped: a misbehaving proxy must not park the run for hours.
    max_retry_after: float = 600.0

    def delay(
        self,
        failures: int,
        retry_after: float | None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Seconds to wait after the ``failures``-th failure (counting from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return uniform(0.0, min(self.cap, self.base * 2 ** (failures - 1)))


def retry_waits(
    policy: RetryPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Generator[float, BaseException | None, None]:
    """The waits between attempts of one request; stops (so backoff gives up) when the next
    wait would pass ``policy.max_time`` or the failure's own ``max_attempts`` is reached.

    The attempt limit ``policy.max_attempts`` is enforced by backoff (``max_tries``).
    """
    started = clock()
    exc = yield 0.0  # backoff primes the generator with send(None)
    failures = 0
    while True:
        failures += 1
        limit = getattr(exc, "max_attempts", None)
        if limit is not None and failures >= limit:
            return
        wait = policy.delay(failures, getattr(exc, "retry_after", None), uniform)
        if clock() - started + wait > policy.max_time:
            return
        exc = yield wait
