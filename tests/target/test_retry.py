"""The target's one retry mechanism (target_amplitude/retry.py): the waits between attempts,
for a transient failure and for an admin endpoint's 429, and where they stop (the deadline)."""

from __future__ import annotations

import pytest
from target_amplitude.client import TransientError
from target_amplitude.retry import DeliveryRetryPolicy, ThrottledError, retry_waits, with_retries

POLICY = DeliveryRetryPolicy(
    deadline_seconds=10.0, initial_delay_seconds=1.0, throttle_delay_seconds=2.0,
    max_delay_seconds=4.0,
)  # fmt: skip


def _waits(failures: list[BaseException], *, elapsed: float = 0.0) -> list[float]:
    """The waits for these failures in turn, on a clock that moves by each wait (+ `elapsed`)."""
    now = [0.0]
    waits = retry_waits(POLICY, clock=lambda: now[0], uniform=lambda _low, high: high)
    waits.send(None)
    given: list[float] = []
    for failure in failures:
        try:
            wait = waits.send(failure)
        except StopIteration:
            break
        given.append(wait)
        now[0] += wait + elapsed
    return given


def test_transient_failures_back_off_exponentially_up_to_the_cap_and_the_deadline() -> None:
    # full jitter drawn at its top: 1, 2, 4, 4 (capped); the next 4 would pass 10 s.
    assert _waits([TransientError("503", 503)] * 10) == [1.0, 2.0, 4.0]


def test_a_429_waits_its_retry_after_else_the_throttle_delay() -> None:
    assert _waits([ThrottledError("429", 0.5), ThrottledError("429", None)]) == [0.5, 4.0]


def test_the_waits_stop_before_passing_the_deadline() -> None:
    assert _waits([ThrottledError("429", 3.0)] * 10) == [3.0, 3.0, 3.0]
    assert _waits([ThrottledError("429", 3.0)] * 10, elapsed=2.0) == [3.0, 3.0]


def test_with_retries_resends_until_success_and_counts_each_retry() -> None:
    answers: list[BaseException | str] = [
        TransientError("503", 503),
        ThrottledError("429", 0),
        "ok",
    ]
    retries: list[int] = []

    def send() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    fast = DeliveryRetryPolicy(
        deadline_seconds=5.0, initial_delay_seconds=0.001, throttle_delay_seconds=0.001
    )
    assert with_retries(send, fast, lambda: retries.append(1))() == "ok"
    assert len(retries) == 2


def test_with_retries_raises_the_last_failure_once_the_waits_stop() -> None:
    policy = DeliveryRetryPolicy(
        deadline_seconds=0.05, initial_delay_seconds=0.001, throttle_delay_seconds=0.01
    )

    def send() -> str:
        raise TransientError("still 503", 503)

    with pytest.raises(TransientError, match="still 503"):
        with_retries(send, policy, lambda: None)()
