"""Query cost pacing (issue 25): the hourly budget and the five-minute one, on a fake clock."""

from __future__ import annotations

import logging

import pytest
from tap_amplitude.query_pacing import FIVE_MINUTES, HOUR, Window, pay


def test_a_five_minute_window_of_1000_cost_waits_for_five_minutes() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    hour = Window.of(108_000, HOUR, "108000 cost per hour", lambda: now[0], sleep)
    five = Window.of(1000, FIVE_MINUTES, "1000 cost within five minutes", lambda: now[0], sleep)
    logger = logging.getLogger("test")
    assert pay([hour, five], 720, logger, "q") == 0.0  # a 90-day retention request
    assert pay([hour, five], 720, logger, "q") == pytest.approx(300.0)  # the next one waits
    assert now[0] == pytest.approx(300.0)
    assert pay([hour, five], 200, logger, "q") == 0.0  # 440 within the last five minutes


def test_the_hourly_window_waits_an_hour_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    hour = Window.of(10, HOUR, "10 cost per hour (setting x)", lambda: now[0], sleep)
    with caplog.at_level(logging.INFO):
        assert pay([hour], 8, logging.getLogger("t"), "q") == 0.0
        assert pay([hour], 8, logging.getLogger("t"), "q2") == pytest.approx(3600.0)
    assert "q2 costs 8: the Dashboard REST budget of 10 cost per hour (setting x) is spent" in (
        caplog.text
    )
    assert "waiting 3600s" in caplog.text
