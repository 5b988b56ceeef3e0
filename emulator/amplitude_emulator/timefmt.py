"""Time helpers: Export API hour parameters and Amplitude's raw timestamp format.

Amplitude's export writes timestamps as ``2026-01-01 10:00:00.123000`` (space, no zone, UTC).
All times inside the emulator are integer milliseconds since the epoch (UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
EPOCH_DATE = date(1970, 1, 1)

_HOUR_PARAM = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})$")
_DAY_PARAM = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_hour_param(value: str) -> int:
    """``YYYYMMDDTHH`` -> hour number since the epoch. Raises ValueError when malformed."""
    match = _HOUR_PARAM.match(value)
    if not match:
        raise ValueError(f"expected YYYYMMDDTHH, got {value!r}")
    year, month, day, hour = (int(part) for part in match.groups())
    if hour > 23:
        raise ValueError(f"hour out of range in {value!r}")
    moment = datetime(year, month, day, hour, tzinfo=UTC)
    return int(moment.timestamp()) // 3600


def parse_day_param(value: str) -> date:
    """``YYYYMMDD`` -> date. Raises ValueError when malformed."""
    match = _DAY_PARAM.match(value)
    if not match:
        raise ValueError(f"expected YYYYMMDD, got {value!r}")
    year, month, day = (int(part) for part in match.groups())
    return date(year, month, day)


def parse_start(value: str) -> int:
    """``2026-01-01T00`` (or ``YYYYMMDDTHH``) -> hour number since the epoch."""
    compact = value.replace("-", "")
    return parse_hour_param(compact)


def hour_to_datetime(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, tz=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_ms(moment: datetime) -> int:
    """Exact epoch milliseconds (integer arithmetic; a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def ms_to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def ms_to_date(ms: int) -> date:
    return EPOCH_DATE + timedelta(days=ms // MS_PER_DAY)


@lru_cache(maxsize=4096)
def _day_prefix(day_number: int) -> str:
    return (EPOCH_DATE + timedelta(days=day_number)).isoformat()


def raw_timestamp(ms: int, digits: int = 6) -> str:
    """Amplitude's raw export format with 6, 3 or 0 fraction digits."""
    day_number, in_day = divmod(ms, MS_PER_DAY)
    seconds, millis = divmod(in_day, 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    base = f"{_day_prefix(day_number)} {hours:02d}:{minutes:02d}:{secs:02d}"
    if digits == 6:
        return f"{base}.{millis:03d}000"
    if digits == 3:
        return f"{base}.{millis:03d}"
    return base


def parse_raw_timestamp(value: str) -> int:
    """Inverse of :func:`raw_timestamp` (any number of fraction digits) -> epoch ms."""
    return datetime_to_ms(datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=UTC))
