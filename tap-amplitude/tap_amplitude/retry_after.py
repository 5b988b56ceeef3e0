"""Parse an HTTP Retry-After header (RFC 9110 section 10.2.3) into seconds to wait.

target_amplitude has a function of the same name and signature; tests/test_shared_concepts.py
checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from ``Retry-After``: delta-seconds (``"120"``) or an HTTP-date.

    A date in the past gives 0. None when the header is absent or not one of the two forms.
    ``now`` (aware) is for tests; it defaults to the current time.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
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
    if when.tzinfo is None:  # RFC 9110: an HTTP-date is always GMT
        when = when.replace(tzinfo=dt.UTC)
    reference = now or dt.datetime.now(dt.UTC)
    return max((when - reference).total_seconds(), 0.0)
