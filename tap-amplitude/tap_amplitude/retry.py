"""The one retry loop of the tap: exponential backoff with full jitter, honouring Retry-After."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tap_amplitude.errors import RetryableError

__all__ = ["RetryPolicy", "call_with_retries", "parse_retry_after"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a transient failure."""

    max_attempts: int = 8
    max_time: float = 900.0
    base: float = 1.0
    cap: float = 60.0
    # A Retry-After above this is capped: a misbehaving proxy must not park the run for hours.
    max_retry_after: float = 600.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return random.uniform(0.0, min(self.cap, self.base * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare here)."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None


def call_with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    logger: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt`` until it returns, retrying :class:`RetryableError` per ``policy``.

    Raises:
        AmplitudeError: what the last failure's ``exhausted()`` returns once attempts or time
            run out (by default :class:`RetriesExhaustedError`, the last cause chained).
    """
    started = time.monotonic()
    number = 0
    while True:
        number += 1
        try:
            return attempt()
        except RetryableError as exc:
            elapsed = time.monotonic() - started
            wait = policy.delay(number, exc.retry_after)
            limit = min(policy.max_attempts, exc.max_attempts or policy.max_attempts)
            if number >= limit or elapsed + wait > policy.max_time:
                raise exc.exhausted(number, elapsed, what) from exc
            logger.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.1fs",
                what,
                number,
                limit,
                exc,
                wait,
            )
            sleep(wait)
