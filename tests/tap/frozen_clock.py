"""Run tap-amplitude exactly as its console script does, with its clock frozen (tests only).

``python -m tests.tap.frozen_clock <tap arguments>`` with ``TAP_TEST_NOW=<ISO instant>``: the
tap's one source of time, :func:`tap_amplitude.clock.utc_now`, answers that instant, so a test
can run the tap "at 04:00 UTC" against an emulator whose clock says the same. Pacing's waits
(:func:`tap_amplitude.clock.sleep`) move a fake monotonic clock instead of sleeping, and each
wait is written to stderr as ``frozen-clock: slept <seconds>``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

from tap_amplitude import clock
from tap_amplitude.tap import TapAmplitude

NOW = dt.datetime.fromisoformat(os.environ["TAP_TEST_NOW"].replace("Z", "+00:00"))
clock.utc_now = lambda: NOW  # type: ignore[assignment]
_monotonic = [0.0]


def _sleep(seconds: float) -> None:
    _monotonic[0] += seconds
    sys.stderr.write(f"frozen-clock: slept {seconds:.1f}\n")


clock.monotonic = lambda: _monotonic[0]  # type: ignore[assignment]
clock.sleep = _sleep  # type: ignore[assignment]

if __name__ == "__main__":
    TapAmplitude.cli()
