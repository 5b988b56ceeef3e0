"""Normalise Amplitude timestamps to RFC 3339 UTC (pure functions, on the hot path).

Amplitude documents ISO 8601 but sends ``2023-08-25 11:05:08.013000`` (space separator, no zone,
UTC implied), sometimes with 0 to 6 fraction digits, a ``T`` separator or a ``Z``/``+00:00``
zone. Every form becomes ``2023-08-25T11:05:08.013000Z``.

Three paths, cheapest first: the form Amplitude sends for nearly every value (26 characters, space
separator, 6 fraction digits) is checked by one compiled pattern and rewritten by slicing; the
other common forms are handled by string slicing; anything else (other offsets, date-only values)
goes through :mod:`datetime` once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

__all__ = [
    "InvalidTimestampError",
    "format_rfc3339",
    "normalize_fields",
    "normalize_records",
    "normalize_timestamp",
    "parse_iso_utc",
]

_UTC_SUFFIXES = ("Z", "z", "+00:00", "+0000", "-00:00", "+00")
_ZEROS = "000000"

# Amplitude's raw form, e.g. "2023-08-25 11:05:08.013000": exactly 26 ASCII characters.
_RAW_FORM_LENGTH = 26
_is_raw_form = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}"
).fullmatch

# The raw form with fewer fraction digits, which Amplitude also sends ("2023-08-25 11:05:08",
# "2023-08-25 11:05:08.013"): same ranges as the raw form and as the slicing path of
# normalize_timestamp, whose result it gives: the space becomes "T", then the tail for the
# value's length pads the fraction to 6 digits and adds "Z".
_is_short_form = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,5})?"
).fullmatch
_SHORT_FORM_TAILS = {
    19: ".000000Z",  # no fraction
    **{length: "0" * (_RAW_FORM_LENGTH - length) + "Z" for length in range(21, 26)},
}


class InvalidTimestampError(ValueError):
    """A value that is not a timestamp in any form Amplitude has used.

    ``record``: the record holding it, when raised by :func:`normalize_records`.
    """

    record: dict | None = None


def format_rfc3339(value: dt.datetime) -> str:
    """Format an aware or naive-UTC datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso_utc(value: str) -> dt.datetime:
    """Parse an ISO 8601 / RFC 3339 date-time or date (no zone means UTC) into aware UTC.

    Raises:
        InvalidTimestampError: the value is not a date-time.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        msg = f"not a timestamp: {value!r}"
        raise InvalidTimestampError(msg) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _slow_path(value: str) -> str:
    return format_rfc3339(parse_iso_utc(value))


def normalize_timestamp(value: object) -> str | None:
    """Return ``value`` as RFC 3339 UTC with 6 fraction digits, or None for null/empty.

    Raises:
        InvalidTimestampError: the value is not a timestamp.
    """
    if type(value) is str and len(value) == _RAW_FORM_LENGTH and _is_raw_form(value):
        return value[:10] + "T" + value[11:] + "Z"  # the raw form: nearly every value
    if value is None or value == "":
        return None
    if type(value) is not str:
        msg = f"not a timestamp: {value!r}"
        raise InvalidTimestampError(msg)
    if (
        len(value) >= 19
        and value[10] in " T"
        and value[4] == "-"
        and value[7] == "-"
        and value[13] == ":"
        and value[16] == ":"
    ):
        numbers = value[:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
        if (
            numbers.isascii()
            and numbers.isdigit()
            and "01" <= value[5:7] <= "12"
            and "01" <= value[8:10] <= "31"
            and value[11:13] <= "23"
            and value[14:16] <= "59"
            and value[17:19] <= "59"
        ):
            tail = value[19:]
            if tail:
                for suffix in _UTC_SUFFIXES:
                    if tail.endswith(suffix):
                        tail = tail[: -len(suffix)]
                        break
            if not tail:
                return f"{value[:10]}T{value[11:19]}.{_ZEROS}Z"
            digits = tail[1:]
            if tail[0] == "." and digits.isascii() and digits.isdigit():
                return f"{value[:10]}T{value[11:19]}.{(digits + _ZEROS)[:6]}Z"
    return _slow_path(value)


def normalize_fields(record: dict, fields: Iterable[str]) -> None:
    """Normalise the named timestamp fields of ``record`` in place (absent fields stay absent).

    Raises:
        InvalidTimestampError: a field holds a value that is not a timestamp; the message names
            the field.
    """
    for field in fields:
        value = record.get(field)
        if value is not None:
            try:
                record[field] = normalize_timestamp(value)
            except InvalidTimestampError as exc:
                msg = f"field {field!r}: {exc}"
                raise InvalidTimestampError(msg) from None


def normalize_records(records: list[dict], fields: tuple[str, ...]) -> None:
    """:func:`normalize_fields` on every record of ``records``, with the same results and
    errors, in one loop: Amplitude's forms (space separator, no zone, 0 to 6 fraction digits)
    are checked by a compiled pattern and rewritten inline, anything else goes through
    :func:`normalize_timestamp` (a block of an export holds thousands of records, seven
    timestamps each: function calls per value were a quarter of the tap's time).

    Raises:
        InvalidTimestampError: as :func:`normalize_fields`, with ``record`` set.
    """
    is_raw, is_short, tails, raw_length = (
        _is_raw_form,
        _is_short_form,
        _SHORT_FORM_TAILS,
        _RAW_FORM_LENGTH,
    )
    for record in records:
        for field in fields:
            value = record.get(field)
            if value is None:
                continue
            if type(value) is str:
                length = len(value)
                if length == raw_length:
                    if is_raw(value):  # one space, at 10
                        record[field] = value.replace(" ", "T") + "Z"
                        continue
                elif length < raw_length and is_short(value):
                    record[field] = value.replace(" ", "T") + tails[length]
                    continue
            try:
                record[field] = normalize_timestamp(value)
            except InvalidTimestampError as exc:
                error = InvalidTimestampError(f"field {field!r}: {exc}")
                error.record = record
                raise error from None
