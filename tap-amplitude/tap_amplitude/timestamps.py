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
from collections import deque
from collections.abc import Iterable
from itertools import chain, repeat
from operator import itemgetter, setitem
from typing import Any

__all__ = [
    "EXPORT_TIMESTAMP_FIELDS",
    "InvalidTimestampError",
    "format_rfc3339",
    "normalize_fields",
    "normalize_records",
    "normalize_timestamp",
    "parse_iso_utc",
]

# The top-level fields of an exported event that hold Amplitude's timestamps (the events stream
# normalises them; so does the decompressing process when it encodes a frame for the tap).
EXPORT_TIMESTAMP_FIELDS = (
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_received_time",
    "server_upload_time",
    "processed_time",
    "user_creation_time",
)

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


# A column of raw-form values joined by newlines, each followed by one: the form Amplitude sends
# for nearly every value, checked for a whole block of records in one match.
_RAW_FORM = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}"
)
_is_raw_column = re.compile(f"(?:{_RAW_FORM}\n)*").fullmatch


def normalize_records(records: list[dict], fields: tuple[str, ...]) -> None:
    """:func:`normalize_fields` on every record of ``records``, with the same results and
    errors.

    A block of an export holds thousands of records, seven timestamps each: a function call or
    a pattern match per value was a quarter of the tap's time. So the values are taken as
    columns. First, every field the first record holds, all at once: when every record holds
    each of them in Amplitude's raw form (space separator, no zone, 6 fraction digits), they
    are checked by byte operations over the values joined by newlines (:func:`_all_raw_form`)
    and rewritten by two replacements of the joined text (nearly every block of an export).
    Otherwise, and for the other fields, field by field: a column in the raw form is checked
    by one match and rewritten the same way; a field absent from every record is left alone;
    any other field (short forms, other forms, a missing or bad value somewhere) goes through
    the record-by-record loop, in record order, so the first bad value raised is the one
    :func:`normalize_fields` would raise.

    Raises:
        InvalidTimestampError: as :func:`normalize_fields`, with ``record`` set.
    """
    if not records:
        return
    first = records[0]
    held = tuple(field for field in fields if field in first)
    if held and _rewrite_raw_block(records, held):
        fields = tuple(field for field in fields if field not in first)
    others = [field for field in fields if not _rewrite_raw_column(records, field)]
    if others:
        _normalize_each(records, tuple(others))


# Byte operations checking a column of raw-form values at once (see _all_raw_form): every digit
# becomes "0", then the text must be the raw form's shape once per value.
_SHAPE = b"0000-00-00 00:00:00.000000\n"
_STRIDE = len(_SHAPE)  # a value and its newline
_AS_SHAPE = bytes.maketrans(b"123456789", b"000000000")


def _flags_of(chars: bytes) -> bytes:
    """A translation table: 1 for each of ``chars``, 0 for every other byte."""
    return bytes(1 if byte in chars else 0 for byte in range(256))


_IS_0, _IS_1, _IS_2, _IS_3 = (_flags_of(digit) for digit in (b"0", b"1", b"2", b"3"))
_ABOVE_1, _ABOVE_2, _ABOVE_3 = (_flags_of(b"23456789"), _flags_of(b"3456789"), _flags_of(b"456789"))


def _all_raw_form(text: bytes, count: int) -> bool:
    """Whether ``text`` is ``count`` values of the raw form, each followed by a newline: the
    same values ``_is_raw_form`` accepts, checked by byte operations over the whole text
    instead of a match per value (a pattern match was about 0.2 us a value, this about 0.02).

    The shape first (digits where the form has digits, its separators elsewhere); then the
    ranges, digit position by digit position (``text[5::27]``: every value's first month
    digit): a digit outside its position's range is found by deleting the allowed ones, and a
    pair out of range (month 00 or 13-19, day 00 or 32-39, hour 24-29) by AND-ing the flags of
    its two digits as integers of ``count`` bytes (non-zero: some value has both).
    """
    if text.translate(_AS_SHAPE) != _SHAPE * count:
        return False
    month, month_units = text[5::_STRIDE], text[6::_STRIDE]
    day, day_units = text[8::_STRIDE], text[9::_STRIDE]
    hour, hour_units = text[11::_STRIDE], text[12::_STRIDE]
    if (
        month.translate(None, b"01")
        or day.translate(None, b"0123")
        or hour.translate(None, b"012")
        or text[14::_STRIDE].translate(None, b"012345")  # minutes: 00-59
        or text[17::_STRIDE].translate(None, b"012345")  # seconds: 00-59
    ):
        return False
    flags = int.from_bytes
    return not (
        flags(month.translate(_IS_0)) & flags(month_units.translate(_IS_0))  # month 00
        or flags(month.translate(_IS_1)) & flags(month_units.translate(_ABOVE_2))  # 13-19
        or flags(day.translate(_IS_0)) & flags(day_units.translate(_IS_0))  # day 00
        or flags(day.translate(_IS_3)) & flags(day_units.translate(_ABOVE_1))  # 32-39
        or flags(hour.translate(_IS_2)) & flags(hour_units.translate(_ABOVE_3))  # 24-29
    )


def _rewrite_raw_block(records: list[dict], fields: tuple[str, ...]) -> bool:
    """Rewrite ``fields`` of every record when every record holds all of them in the raw form;
    whether it was done (nothing is changed otherwise)."""
    try:
        # Record by record, all fields at once: the values of a record in fields order.
        rows = (
            map(itemgetter(*fields), records)
            if len(fields) > 1
            else ((value,) for value in map(itemgetter(fields[0]), records))
        )
        values = list(chain.from_iterable(rows))
        joined = "\n".join(values)
    except (KeyError, TypeError):  # absent from some record; not only strings
        return False
    joined += "\n"
    count = len(values)
    if len(joined) != _STRIDE * count:
        return False
    try:
        text = joined.encode("ascii")
    except UnicodeEncodeError:
        return False
    if not _all_raw_form(text, count):
        return False
    rewritten = joined.replace(" ", "T").replace("\n", "Z\n").split("\n")
    rewritten.pop()  # after the last newline
    width = len(fields)
    for index, field in enumerate(fields):
        # setitem over the records, in a loop that runs in C (as in _rewrite_raw_column).
        deque(map(setitem, records, repeat(field), rewritten[index::width]), maxlen=0)
    return True


def _rewrite_raw_column(records: list[dict], field: str) -> bool:
    """Rewrite ``field`` of every record holding it when all of them hold it in the raw form;
    whether it was done (nothing is changed otherwise)."""
    try:
        column: list[Any] = list(map(itemgetter(field), records))
    except KeyError:  # absent from some records
        column = list(map(dict.get, records, repeat(field)))
        if column.count(None) == len(column):  # absent or null everywhere: nothing to do
            return True
    try:
        joined = "\n".join(column)
    except TypeError:  # not only strings: None where the field is absent or null
        present = [(record, value) for record, value in zip(records, column, strict=True)
                   if value is not None]  # fmt: skip
        if not present:
            return True
        if len(present) == len(column):  # another type: the record-by-record loop names it
            return False
        records = [record for record, _ in present]
        column = [value for _, value in present]
        try:
            joined = "\n".join(column)
        except TypeError:
            return False
    joined += "\n"
    # Every value is one raw-form value: each is 26 characters and ends at a newline, so no
    # value holds a newline of its own.
    if len(joined) != (_RAW_FORM_LENGTH + 1) * len(column) or not _is_raw_column(joined):
        return False
    rewritten = joined.replace(" ", "T").replace("\n", "Z\n").split("\n")
    rewritten.pop()  # after the last newline
    # setitem over the records, in a loop that runs in C (a Python loop was a third of this
    # function's time; operator.setitem, unlike dict.__setitem__, takes its arguments without
    # a tuple: 40% less).
    deque(map(setitem, records, repeat(field), rewritten), maxlen=0)
    return True


def _normalize_each(records: list[dict], fields: tuple[str, ...]) -> None:
    """The record-by-record loop: Amplitude's forms (space separator, no zone, 0 to 6 fraction
    digits) are checked by a compiled pattern and rewritten inline, anything else goes through
    :func:`normalize_timestamp`."""
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
