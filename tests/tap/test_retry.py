"""Unit tests of tap_amplitude.retry: Retry-After wins (capped), backoff doubles, the time and
attempt limits."""

from __future__ import annotations

from tap_amplitude.errors import ExportGatewayTimeoutError, RetryableError
from tap_amplitude.retry import RetryPolicy, retry_waits
from tap_amplitude.windows import Window

from tests.tap.units import hour


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _waits(policy: RetryPolicy, failures: list[BaseException], clock: FakeClock) -> list[float]:
    """Drive retry_waits as backoff does: prime, then send each failure; stop = give up."""
    waits = retry_waits(policy, clock=clock, uniform=lambda low, high: high)
    waits.send(None)
    out: list[float] = []
    for exc in failures:
        try:
            wait = waits.send(exc)
        except StopIteration:
            break
        out.append(wait)
        clock.now += wait
    return out


def test_retry_after_wins_and_is_capped_then_backoff_doubles() -> None:
    policy = RetryPolicy(max_attempts=8, max_time=10_000, base=0.5, cap=2.0, max_retry_after=60)
    failures = [
        RetryableError("429", retry_after=7.0),
        RetryableError("429", retry_after=3600.0),
        RetryableError("503"),
        RetryableError("503"),
        RetryableError("503"),
    ]
    assert _waits(policy, failures, FakeClock()) == [7.0, 60.0, 2.0, 2.0, 2.0]
    jittered = RetryPolicy(max_attempts=8, max_time=10, base=0.5, cap=2.0)
    assert 0.0 <= jittered.delay(2, None) <= 1.0  # full jitter under base * 2**1


def test_retry_waits_stop_before_passing_max_retry_time() -> None:
    policy = RetryPolicy(max_attempts=100, max_time=10, base=4, cap=4)
    assert _waits(policy, [RetryableError("503")] * 10, FakeClock()) == [4, 4]


def test_export_504_gets_its_own_attempt_limit() -> None:
    policy = RetryPolicy(max_attempts=8, max_time=900, base=0, cap=0)
    window = Window(hour("2026-01-01T00:00"), hour("2026-01-01T02:00"))
    failures = [ExportGatewayTimeoutError(window, max_attempts=3)] * 5
    assert len(_waits(policy, failures, FakeClock())) == 2  # 3 attempts, then halve
