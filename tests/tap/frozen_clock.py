"""Run tap-amplitude exactly as its console script does, with its clock frozen (tests only).

``python -m tests.tap.frozen_clock <tap arguments>`` with ``TAP_TEST_NOW=<ISO instant>``: the
tap's one source of time, :func:`tap_amplitude.clock.utc_now`, answers that instant, so a test
can run the tap "at 04:00 UTC" against an emulator whose clock says the same.
"""

from __future__ import annotations

import datetime as dt
import os

from tap_amplitude import clock
from tap_amplitude.tap import TapAmplitude

NOW = dt.datetime.fromisoformat(os.environ["TAP_TEST_NOW"].replace("Z", "+00:00"))
clock.utc_now = lambda: NOW  # type: ignore[assignment]

if __name__ == "__main__":
    TapAmplitude.cli()
