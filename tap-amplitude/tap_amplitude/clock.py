"""The tap's one source of "now" (UTC), so every stream agrees on it within a run, and of the
monotonic clock and sleep that pacing waits on (tests replace all three)."""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["monotonic", "sleep", "utc_now"]


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def monotonic() -> float:
    """Seconds of a monotonic clock (pacing measures its hour on it)."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    """Wait ``seconds`` (pacing's waits)."""
    time.sleep(seconds)
