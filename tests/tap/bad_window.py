"""Run tap-amplitude as its console script does, with one export window refused (tests only).

``python -m tests.tap.bad_window <tap arguments>`` with ``TAP_TEST_BAD_HOUR=<YYYYMMDDTHH>``: the
export request of the window starting at that hour carries wrong credentials, so the emulator
answers it 401 on every attempt, whichever thread sends it and whenever it arrives.
"""

from __future__ import annotations

import os
from typing import Any

import requests
from tap_amplitude.streams.events import EventsStream
from tap_amplitude.tap import TapAmplitude

BAD_HOUR = os.environ["TAP_TEST_BAD_HOUR"]
_prepared = EventsStream._prepared


def _refused(self: EventsStream, window: Any, context: Any) -> requests.PreparedRequest:
    prepared = _prepared(self, window, context)
    if window.export_params["start"] == BAD_HOUR:
        prepared.headers["Authorization"] = "Basic d3Jvbmc6d3Jvbmc="  # wrong:wrong
    return prepared


EventsStream._prepared = _refused  # type: ignore[method-assign]

if __name__ == "__main__":
    TapAmplitude.cli()
