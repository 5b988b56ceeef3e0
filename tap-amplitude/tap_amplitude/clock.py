"""The tap's one source of "now" (UTC): every stream asks here, so a test freezes the time of
every stream at once (tests/tap/frozen_clock.py)."""

from __future__ import annotations

import datetime as dt

__all__ = ["utc_now"]


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)
