"""Retrying a request: the target's one mechanism, the `backoff` library (the SDK's own, which the
tap drives through the SDK's backoff hooks; tap_amplitude/retry.py).

Ingestion (delivery.DeliveryEngine) and the admin endpoints (admin_delivery.AdminSender) both
call `with_retries`: a request that fails with a RetryableError is sent again, the same bytes,
after the wait `retry_waits` gives:
- a transient failure (5xx, timeout, dropped connection: client.TransientError): exponential
  backoff with full jitter, from retry_initial_delay_seconds up to max_delay_seconds;
- a 429 of an admin endpoint (ThrottledError): its Retry-After, else throttle_delay_seconds plus
  jitter. (Ingestion holds only the throttled keys back instead: delivery.py.)
The waits stop, and backoff re-raises the last failure, when the next one would pass
retry_deadline_seconds from the first attempt.
"""

from __future__ import annotations

import functools
import random
import time
import typing as t
from collections.abc import Callable, Generator
from dataclasses import dataclass

import backoff

from target_amplitude.client import TransientError

P = t.ParamSpec("P")
R = t.TypeVar("R")


@dataclass(frozen=True, slots=True)
class DeliveryRetryPolicy:
    """Backoff for transient failures, and the hold for throttled keys (the settings' values)."""

    deadline_seconds: float
    initial_delay_seconds: float
    throttle_delay_seconds: float
    max_delay_seconds: float = 60.0  # not a setting: the cap of one backoff wait


class ThrottledError(TransientError):
    """HTTP 429 from an admin endpoint: retried after Retry-After (seconds, None: absent)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


def retry_waits(
    policy: DeliveryRetryPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Generator[float, BaseException | None, None]:
    """The waits between the attempts of one request (backoff sends each failure in)."""
    started = clock()
    failure = yield 0.0  # backoff primes the generator with send(None)
    attempt = 0
    while True:
        if isinstance(failure, ThrottledError):
            base = policy.throttle_delay_seconds
            delay = (
                failure.retry_after if failure.retry_after is not None else base + uniform(0, base)
            )
        else:
            cap = min(policy.max_delay_seconds, policy.initial_delay_seconds * 2**attempt)
            delay = uniform(0, cap)
        if clock() - started + delay > policy.deadline_seconds:
            return
        attempt += 1
        failure = yield delay


def with_retries(
    send: Callable[P, R],
    policy: DeliveryRetryPolicy,
    on_retry: Callable[[], None],
) -> Callable[P, R]:
    """`send`, retried on TransientError (ThrottledError included) as `retry_waits` says.

    `on_retry` runs before each wait; the last failure is raised once the waits stop.
    """
    return backoff.on_exception(
        functools.partial(retry_waits, policy),
        TransientError,
        jitter=None,  # retry_waits draws the jitter itself
        on_backoff=lambda _details: on_retry(),
        logger=None,
    )(send)


def gave_up_message(path: str, policy: DeliveryRetryPolicy, last: object) -> str:
    """The error once the retries of a request to `path` have run out."""
    return (
        f"{path}: gave up after retry_deadline_seconds ({policy.deadline_seconds:g} s) of "
        f"transient failures; last: {last}. Nothing after the last emitted STATE is lost: "
        "rerun to resume."
    )
