"""Record -> user mapping, deletion id, cohort member id (pure).

A problem in one record raises RecordRejectedError with the reason (written to the rejected
file, never a failed run).
"""

from __future__ import annotations

import decimal
import typing as t

from target_amplitude.mapping import RecordRejectedError
from target_amplitude.settings import StreamMapping

_TRUE_TEXT = frozenset({"true", "t", "1", "yes", "y"})
_FALSE_TEXT = frozenset({"false", "f", "0", "no", "n", ""})


def _text_id(record: t.Mapping[str, t.Any], field: str, what: str) -> str:
    value = record.get(field)
    if value is None:
        msg = f"{what} field '{field}' is missing or null"
        raise RecordRejectedError(msg)
    if isinstance(value, bool):
        msg = f"{what} field '{field}' must be a string or an integer, got {value!r}"
        raise RecordRejectedError(msg)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value
    msg = f"{what} field '{field}' must be a non-empty string or an integer, got {value!r}"
    raise RecordRejectedError(msg)


def _amplitude_id(record: t.Mapping[str, t.Any], field: str) -> int:
    text = _text_id(record, field, "amplitude_id")
    if not text.isdigit():
        msg = f"amplitude_id field '{field}' must be a positive integer, got {text!r}"
        raise RecordRejectedError(msg)
    return int(text)


def _flag(record: t.Mapping[str, t.Any], field: str) -> bool:
    value = record.get(field)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | decimal.Decimal) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_TEXT | _FALSE_TEXT:
        return value.strip().lower() in _TRUE_TEXT
    msg = f"unmap field '{field}' must be a boolean, got {value!r}"
    raise RecordRejectedError(msg)


def map_user_mapping(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """One /usermap mapping object: {user_id, global_user_id} or {user_id, unmap: true}."""
    assert mapping.user_id_field is not None
    assert mapping.global_user_id_field is not None
    user_id = _text_id(record, mapping.user_id_field, "user_id")
    if mapping.unmap_field and _flag(record, mapping.unmap_field):
        return {"user_id": user_id, "unmap": True}
    global_id = _text_id(record, mapping.global_user_id_field, "global_user_id")
    return {"user_id": user_id, "global_user_id": global_id}


def member_id(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> str:
    """The user_id, or the amplitude_id as digits, of a deletion or cohort row."""
    if mapping.amplitude_id_field:
        return str(_amplitude_id(record, mapping.amplitude_id_field))
    assert mapping.user_id_field is not None
    return _text_id(record, mapping.user_id_field, "user_id")
