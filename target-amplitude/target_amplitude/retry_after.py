"""The Retry-After response header, as seconds to wait (pure).

RFC 9110 section 10.2.3: either delta-seconds ("120") or an HTTP-date. The tap keeps the same
function (tap_amplitude/retry_after.py); tests/test_shared_concepts.py asserts that they agree.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait, never negative; None when the header is absent or unreadable.

    `now` (aware) is the clock for the HTTP-date form; the current UTC time by default.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # Not RFC delta-seconds, but sent by some servers ("1.5"); negative, nan, inf: invalid.
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())
