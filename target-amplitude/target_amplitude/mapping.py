"""Record -> Amplitude payload, per object kind (pure; the hot path).

A mapping problem in one record raises RecordRejectedError with a reason: the sink turns it into a
rejected record, never a failed run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import typing as t

import msgspec

from target_amplitude.settings import EVENT_TOP_LEVEL_KEYS, StreamMapping


class RecordRejectedError(ValueError):
    """This record cannot become a valid Amplitude payload; the message is the reason."""


def _enc_hook(obj: t.Any) -> t.Any:
    return str(obj)


# One encoder for payloads and hashes: Decimal (what the msgspec reader gives for JSON floats)
# stays a JSON number, datetimes become RFC 3339.
ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")
_HASH_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number", order="sorted")

# Export record (tap-amplitude's `events` stream) -> ingest key renames (reference section 8).
EXPORT_RENAMES = {
    "$insert_id": "insert_id",
    "version_name": "app_version",
    "device_carrier": "carrier",
    "ip_address": "ip",
}
# Export-only and server-side fields: never sent back at ingest.
EXPORT_ONLY_FIELDS = frozenset(
    {
        "uuid", "amplitude_id", "server_received_time", "server_upload_time", "processed_time",
        "client_upload_time", "data", "data_type", "app", "amplitude_event_type", "$schema",
        "$insert_key", "user_creation_time", "event_time", "client_event_time",
        "device_family", "device_type", "global_user_properties", "group_properties",
        "is_attribution_event", "sample_rate", "amplitude_attribution_ids", "library",
        "source_id", "start_version", "paying", "_sdc_extracted_at", "_sdc_received_at",
        "_sdc_batched_at", "_sdc_deleted_at", "_sdc_sequence", "_sdc_table_version",
        "_sdc_sync_started_at",
    }
)  # fmt: skip
# Keys an ingest event carries at its top level.
INGEST_EVENT_KEYS = EVENT_TOP_LEVEL_KEYS - {"paying", "start_version"} | {
    "event_type", "user_id", "device_id", "time", "insert_id", "event_properties",
    "user_properties", "groups", "partner_id", "$skip_user_properties_sync",
}  # fmt: skip
# Amplitude object keys whose names are common column names in a source table.
_OPEN_COLUMN_KEYS = frozenset({"plan"})


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)  # zone-less times are UTC
_ONE_MS = dt.timedelta(milliseconds=1)


def to_epoch_ms(value: t.Any) -> int:
    """RFC 3339 / ISO 8601 string (zone-less = UTC), datetime, or epoch ms -> epoch ms.

    Exact integer arithmetic: `.013` is 13 ms, never 12 through float rounding.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        parsed = dt.datetime.fromisoformat(text)
    elif isinstance(value, bool):
        raise ValueError(value)
    elif isinstance(value, int):
        return value
    elif isinstance(value, float | decimal.Decimal):
        if not value.is_finite() if isinstance(value, decimal.Decimal) else value != value:  # noqa: PLR0124
            raise ValueError(value)
        return int(value)
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise ValueError(value)
    return (parsed - (_EPOCH_NAIVE if parsed.tzinfo is None else _EPOCH)) // _ONE_MS


def _id(value: t.Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return str(int(value))
    msg = f"{what} must be a string or an integer, got {type(value).__name__} {value!r}"
    raise RecordRejectedError(msg)


def _group_value(value: t.Any, what: str) -> str | list[str]:
    if isinstance(value, list):
        out = [_id(v, what) for v in value]
        return [v for v in out if v is not None]
    out_one = _id(value, what)
    if out_one is None:
        msg = f"{what} is null"
        raise RecordRejectedError(msg)
    return out_one


def insert_id_for(
    stream: str, record: t.Mapping[str, t.Any], key_properties: t.Sequence[str]
) -> str:
    """A deterministic insert_id: hash of stream + key property values, else of the record."""
    if key_properties and all(record.get(k) is not None for k in key_properties):
        material = _HASH_ENCODER.encode([stream, [record[k] for k in key_properties]])
    else:
        material = _HASH_ENCODER.encode([stream, record])
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def _time(record: t.Mapping[str, t.Any], field: str) -> int | None:
    value = record.get(field)
    if value is None:
        return None
    try:
        return to_epoch_ms(value)
    except (ValueError, TypeError, OverflowError):
        msg = (
            f"time field '{field}' has an unparseable value {value!r}: "
            "expected an RFC 3339 / ISO 8601 string or epoch milliseconds"
        )
        raise RecordRejectedError(msg) from None


def _top_level_fields(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {key: record[f] for key, f in mapping.fields if record.get(f) is not None}


def _properties(
    record: t.Mapping[str, t.Any], selected: t.Sequence[str] | None, used: frozenset[str]
) -> dict[str, t.Any]:
    if selected is not None:
        return {f: record[f] for f in selected if f in record}
    return {k: v for k, v in record.items() if k not in used and not k.startswith("_sdc_")}


def _property_operations(
    mapping: StreamMapping,
    record: t.Mapping[str, t.Any],
    set_fields: t.Sequence[str] | None,
) -> dict[str, t.Any]:
    """Plain dict ($set) when no operation is configured, else a dict of operations only.

    A field named in an operation gets that operation only, never also $set (even when it is
    listed in the properties too): `$set` then `$append` of one value would append it twice.
    """
    used = mapping.used_fields()
    operated = mapping.operation_fields()
    to_set = {
        k: v
        for k, v in _properties(record, set_fields, used).items()
        if v is not None and k not in operated
    }
    if not mapping.operations and not mapping.clear_all:
        return to_set
    ops: dict[str, dict[str, t.Any] | str] = {}
    if mapping.clear_all:
        ops["$clearAll"] = "-"
    if to_set:
        ops["$set"] = to_set
    for op, op_fields in mapping.operations:
        if op == "$unset":
            values: dict[str, t.Any] = dict.fromkeys(op_fields, "-")
        else:
            values = {f: record[f] for f in op_fields if record.get(f) is not None}
        if values:
            existing = ops.get(op)
            ops[op] = {**existing, **values} if isinstance(existing, dict) else values
    return ops


def _add_ids(
    mapping: StreamMapping, record: t.Mapping[str, t.Any], payload: dict[str, t.Any]
) -> None:
    """user_id and device_id from the mapped fields (absent or null fields add nothing)."""
    for key, field in (("user_id", mapping.user_id_field), ("device_id", mapping.device_id_field)):
        if field:
            value = _id(record.get(field), f"{key} field '{field}'")
            if value is not None:
                payload[key] = value


def _add_groups(
    mapping: StreamMapping, record: t.Mapping[str, t.Any], payload: dict[str, t.Any]
) -> None:
    """groups: {group type: value(s)} from the mapped fields."""
    groups = {
        group_type: _group_value(record[group_field], f"groups.{group_type}")
        for group_type, group_field in mapping.groups
        if record.get(group_field) is not None
    }
    if groups:
        payload["groups"] = groups


def map_event(
    mapping: StreamMapping,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """A record of a stream mapped with object: event -> an ingest event."""
    if mapping.passthrough:
        return map_amplitude_shaped(
            mapping.stream,
            record,
            key_properties,
            skip_user_properties_sync=skip_user_properties_sync,
        )
    event: dict[str, t.Any] = _top_level_fields(mapping, record)
    if mapping.event_type_field:
        event["event_type"] = record.get(mapping.event_type_field)
    else:
        event["event_type"] = mapping.event_type
    _add_ids(mapping, record, event)
    if mapping.time_field:
        ms = _time(record, mapping.time_field)
        if ms is not None:
            event["time"] = ms
    if mapping.insert_id_field:
        insert_id = _id(
            record.get(mapping.insert_id_field), f"insert_id field '{mapping.insert_id_field}'"
        )
        if insert_id is None:
            msg = f"insert_id field '{mapping.insert_id_field}' is missing or null"
            raise RecordRejectedError(msg)
        event["insert_id"] = insert_id
    else:
        event["insert_id"] = insert_id_for(mapping.stream, record, key_properties)
    user_props = mapping.user_properties or ()
    used = mapping.used_fields() | set(user_props)
    event["event_properties"] = _properties(record, mapping.event_properties, used)
    if user_props:
        event["user_properties"] = {f: record[f] for f in user_props if f in record}
    _add_groups(mapping, record, event)
    if skip_user_properties_sync:
        event["$skip_user_properties_sync"] = True
    return event


def is_export_shaped(record: t.Mapping[str, t.Any]) -> bool:
    """True for a record in Amplitude's export shape (tap-amplitude's events stream)."""
    return (
        "uuid" in record
        or "$insert_id" in record
        or "server_upload_time" in record
        or "amplitude_id" in record
    )


# What map_amplitude_shaped does with a record key: drop it, send it as the ingest key (when not
# null), keep it as an event property, or (an open column key such as 'plan') send an object as
# the ingest key and anything else as an event property.
_DROP, _INGEST, _EXTRA, _OPEN = range(4)
_KEY_ACTIONS: dict[str, tuple[int, str]] = {}
_MAX_CACHED_KEYS = 10_000


def _key_action(key: str) -> tuple[int, str]:
    """(action, ingest key) for one record key; cached, as every record repeats its keys."""
    action = _KEY_ACTIONS.get(key)
    if action is not None:
        return action
    target = EXPORT_RENAMES.get(key, key)
    if target in EXPORT_ONLY_FIELDS:
        action = (_DROP, target)
    elif target in _OPEN_COLUMN_KEYS:
        action = (_OPEN, target)
    elif target in INGEST_EVENT_KEYS:
        action = (_INGEST, target)
    elif target.startswith("_sdc_"):
        action = (_DROP, target)
    else:
        action = (_EXTRA, target)
    if len(_KEY_ACTIONS) < _MAX_CACHED_KEYS:
        _KEY_ACTIONS[key] = action
    return action


def map_amplitude_shaped(
    stream: str,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """An Amplitude-shaped record (ingest or export shape) -> an ingest event (section 8)."""
    event: dict[str, t.Any] = {}
    extra: dict[str, t.Any] = {}
    cached = _KEY_ACTIONS.get
    for key, value in record.items():
        action, target = cached(key) or _key_action(key)
        if action == _INGEST:
            if value is not None:
                event[target] = value
        elif action == _EXTRA:
            extra[target] = value
        elif action == _OPEN and value is not None:
            # A source column that only shares Amplitude's name (e.g. a 'plan' string): data.
            (event if isinstance(value, dict) else extra)[target] = value
    for id_key in ("user_id", "device_id"):
        value = event.get(id_key)
        if value is not None and type(value) is not str:
            event[id_key] = _id(value, id_key)
    if "time" in event:
        event["time"] = _time(event, "time")
    else:
        for source in ("event_time", "client_event_time"):
            if record.get(source) is not None:
                event["time"] = _time(record, source)
                break
    if extra:
        props = event.get("event_properties")
        if props is None:
            event["event_properties"] = extra
        elif isinstance(props, dict):
            extra.update(props)
            event["event_properties"] = extra
        else:
            msg = f"event_properties must be an object, got {type(props).__name__}"
            raise RecordRejectedError(msg)
    insert_id = event.get("insert_id")
    if insert_id is None:
        event["insert_id"] = insert_id_for(stream, record, key_properties)
    elif type(insert_id) is not str:
        event["insert_id"] = _id(insert_id, "insert_id")
    if skip_user_properties_sync or is_export_shaped(record):
        event["$skip_user_properties_sync"] = True
    return event


def map_identify(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A record of a user or device stream -> one /identify identification."""
    ident: dict[str, t.Any] = _top_level_fields(mapping, record)
    _add_ids(mapping, record, ident)
    ident["user_properties"] = _property_operations(mapping, record, mapping.user_properties)
    _add_groups(mapping, record, ident)
    return ident


def map_group(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A record of a group stream -> one /groupidentify identification."""
    group_type = mapping.group_type
    if mapping.group_type_field:
        group_type = _id(
            record.get(mapping.group_type_field), f"group_type field '{mapping.group_type_field}'"
        )
    value_field = mapping.group_value_field or ""
    group_value = _id(record.get(value_field), f"group_value field '{value_field}'")
    return {
        "group_type": group_type,
        "group_value": group_value,
        "group_properties": _property_operations(mapping, record, mapping.group_properties),
    }


def map_record(
    mapping: StreamMapping,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """Dispatch on the mapping's object kind."""
    if mapping.object == "event":
        return map_event(
            mapping, record, key_properties, skip_user_properties_sync=skip_user_properties_sync
        )
    if mapping.object == "group":
        return map_group(mapping, record)
    return map_identify(mapping, record)
