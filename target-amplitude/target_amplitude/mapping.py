"""Record -> Amplitude payload, per object kind (pure; the hot path).

A mapping problem in one record raises RecordRejectedError with a reason: the sink turns it into a
rejected record, never a failed run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
import typing as t

import msgspec

from target_amplitude.settings import EVENT_TOP_LEVEL_KEYS, StreamMapping


class RecordRejectedError(ValueError):
    """This record cannot become a valid Amplitude payload; the message is the reason."""


class RecordSkippedError(Exception):
    """This record is deliberately not sent (a delete under on_delete: skip); counted as skipped."""


IDENTIFY_EVENT_TYPES = frozenset({"$identify", "$groupidentify"})
# Earliest time a numeric time column may map to: anything before 2001 as milliseconds is a
# unit mistake (epoch seconds, a yyyymmdd number), never sent as a January 1970 event.
MIN_NUMERIC_TIME_MS = 978_307_200_000  # 2001-01-01T00:00:00Z


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
    stream: str,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    time_ms: int | None = None,
) -> str:
    """A deterministic insert_id: a hash of the stream, the row's identity and the event time.

    The row's identity is its key property values, else the whole record without Singer's
    volatile `_sdc_*` metadata (which changes on every run). The mapped time is part of the hash,
    so successive updates of one keyed row (a new updated_at) are distinct events.
    """
    if key_properties and all(record.get(k) is not None for k in key_properties):
        identity: t.Any = [record[k] for k in key_properties]
    else:
        identity = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
    material = _HASH_ENCODER.encode([stream, identity, time_ms])
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def namespaced_insert_id(namespace: str, value: str) -> str:
    """An `insert_id_field` value made unique across streams: `orders:5` vs `refunds:5`."""
    return f"{namespace}:{value}"


_NUMBER = re.compile(r"\d+(\.\d*)?")


def _is_numeric_time(value: t.Any) -> bool:
    if type(value) is str and "-" in value:  # a date, never digits with one "." (no regex)
        return False
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | decimal.Decimal):
        return True
    return isinstance(value, str) and _NUMBER.fullmatch(value.strip()) is not None


def _iso(ms: int) -> str:
    try:
        return (_EPOCH + dt.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return "out of range"


_EXACT_SECONDS = 10**24


def _time(
    record: t.Mapping[str, t.Any], field: str, *, unit: str = "ms", hint: str | None = None
) -> int | None:
    """The record's time in epoch ms; None when null. Unit mistakes are rejected, not sent.

    A numeric value or digit string is read in `unit` (ms or s); if it then falls before 2001
    it is a unit or format mistake (epoch seconds read as ms, a yyyymmdd number): the record is
    rejected with the column and the setting to use, never sent as a January 1970 event.
    """
    value = record.get(field)
    if value is None:
        return None
    kind = type(value)
    if kind is str and "-" in value:  # a date: never a number (digits and one ".")
        ms = _date_time_ms(value)
        if ms is not None:
            return ms
    ms = _int_time_ms(value, unit) if kind is int else None
    if ms is not None:
        numeric = True
    else:
        numeric = _is_numeric_time(value)
        ms = _parsed_time(value, field, unit, numeric=numeric)
    if numeric and ms < MIN_NUMERIC_TIME_MS:
        as_unit = "seconds" if unit == "s" else "milliseconds"
        msg = (
            f"time field '{field}' value {value!r} read as epoch {as_unit} is {_iso(ms)}, before "
            "2001: not sent as a 1970 event. "
            + (
                hint
                or (
                    "If the column holds epoch seconds, set time_unit: s in the stream's mapping; "
                    "a yyyymmdd number must be converted to a date string"
                )
            )
        )
        raise RecordRejectedError(msg)
    return ms


_fromisoformat = dt.datetime.fromisoformat


def _date_time_ms(value: str) -> int | None:
    """What to_epoch_ms gives for a dated string, or None when it does not parse (the general
    path then says why); without the calls and tests on the way."""
    try:
        parsed = _fromisoformat(value.strip())
    except ValueError:
        return None
    return (parsed - (_EPOCH_NAIVE if parsed.tzinfo is None else _EPOCH)) // _ONE_MS


def _int_time_ms(value: int, unit: str) -> int | None:
    """What _parsed_time gives for an int, without the round trip through Decimal; None for
    seconds so large that Decimal's 28 digits round them times 1000 (_parsed_time does that)."""
    if unit == "s":
        return value * 1000 if -_EXACT_SECONDS < value < _EXACT_SECONDS else None
    return value


def _parsed_time(value: t.Any, field: str, unit: str, *, numeric: bool) -> int:
    """_time's general parser: a number or digit string in `unit`, else to_epoch_ms."""
    try:
        if numeric:
            number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
            ms = int(number * 1000) if unit == "s" else int(number)
        else:
            ms = to_epoch_ms(value)
    except (ValueError, TypeError, OverflowError, ArithmeticError):
        msg = (
            f"time field '{field}' has an unparseable value {value!r}: "
            "expected an RFC 3339 / ISO 8601 string or epoch milliseconds"
            + (" (time_unit: s: epoch seconds)" if unit == "s" else "")
        )
        raise RecordRejectedError(msg) from None
    return ms


# id(mapping) -> (mapping, used_fields(), operation_fields(), used_fields() | user_properties):
# a StreamMapping is frozen, so its field sets are computed once, not for every record. The
# entry holds the mapping itself, so no other object can reuse its id while it is cached.
_FIELD_SETS: dict[int, tuple[StreamMapping, frozenset[str], frozenset[str], frozenset[str]]] = {}
_MAX_FIELD_SETS = 256


def _field_sets(mapping: StreamMapping) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(used fields, operation fields, used fields and user_properties) of a mapping."""
    entry = _FIELD_SETS.get(id(mapping))
    if entry is None or entry[0] is not mapping:
        if len(_FIELD_SETS) >= _MAX_FIELD_SETS:
            _FIELD_SETS.clear()
        used = mapping.used_fields()
        entry = (
            mapping,
            used,
            mapping.operation_fields(),
            used | frozenset(mapping.user_properties or ()),
        )
        _FIELD_SETS[id(mapping)] = entry
    return entry[1], entry[2], entry[3]


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
    """Plain dict ($set) when only values are set, else a dict of operations only.

    A field named in an operation gets that operation only, never also $set (even when it is
    listed in the properties too): `$set` then `$append` of one value would append it twice.
    A null value is left out (null_behavior: skip) or becomes `$unset` (null_behavior: unset).
    `$clearAll` is never part of it: it goes as its own identification first (see
    clear_all_identification).
    """
    used, operated, _ = _field_sets(mapping)
    props = _properties(record, set_fields, used)
    to_set = {k: v for k, v in props.items() if v is not None and k not in operated}
    to_unset: dict[str, t.Any] = {}
    if mapping.null_behavior == "unset":
        to_unset = {k: "-" for k, v in props.items() if v is None and k not in operated}
    if not mapping.operations and not to_unset:
        return to_set
    ops: dict[str, dict[str, t.Any]] = {}
    if to_set:
        ops["$set"] = to_set
    if to_unset:
        ops["$unset"] = to_unset
    for op, op_fields in mapping.operations:
        if op == "$unset":
            values: dict[str, t.Any] = dict.fromkeys(op_fields, "-")
        else:
            values = {f: record[f] for f in op_fields if record.get(f) is not None}
        if values:
            existing = ops.get(op)
            ops[op] = {**existing, **values} if isinstance(existing, dict) else values
    return ops


def _mapped_property_names(
    mapping: StreamMapping, record: t.Mapping[str, t.Any], set_fields: t.Sequence[str] | None
) -> list[str]:
    """Every property a user/device/group mapping writes for this record (for on_delete: unset)."""
    names = list(_properties(record, set_fields, _field_sets(mapping)[0]))
    for _, op_fields in mapping.operations:
        names.extend(f for f in op_fields if f not in names)
    return names


def clear_all_identification(payload: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The `$clearAll` identification sent alone, before the record's values (same ids).

    Amplitude documents no order for `$clearAll` combined with other operations in one
    identification, and the official SDKs refuse the combination.
    """
    ident = {k: payload[k] for k in ("user_id", "device_id") if payload.get(k) is not None}
    ident["user_properties"] = {"$clearAll": "-"}
    return ident


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


def _is_operations(value: t.Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(k.startswith("$") for k in value)


def _as_operations(value: t.Any) -> t.Any:
    """Properties for a `$identify`/`$groupidentify` event: plain values become `$set`."""
    if isinstance(value, dict) and value and not _is_operations(value):
        return {"$set": value}
    return value


def _finish_identify_event(event: dict[str, t.Any]) -> None:
    """`$identify` / `$groupidentify` events carry operations and never skip the profile sync."""
    if "user_properties" in event:
        event["user_properties"] = _as_operations(event["user_properties"])
    if "group_properties" in event:
        event["group_properties"] = _as_operations(event["group_properties"])
    event.pop("$skip_user_properties_sync", None)


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
    time_ms: int | None = None
    if mapping.time_field:
        time_ms = _time(
            record,
            mapping.time_field,
            unit=mapping.time_unit,
            hint=f"If the column holds epoch seconds, set stream_mappings.{mapping.stream}."
            "time_unit: s; a yyyymmdd number must be converted to a date string",
        )
        if time_ms is not None:
            event["time"] = time_ms
        elif mapping.null_time != "upload_time":
            msg = (
                f"time field '{mapping.time_field}' is null: not sent stamped with the sync "
                f"time. Set stream_mappings.{mapping.stream}.null_time: upload_time to send "
                "such rows at Amplitude's upload time"
            )
            raise RecordRejectedError(msg)
    if mapping.insert_id_field:
        insert_id = _id(
            record.get(mapping.insert_id_field), f"insert_id field '{mapping.insert_id_field}'"
        )
        if insert_id is None:
            msg = f"insert_id field '{mapping.insert_id_field}' is missing or null"
            raise RecordRejectedError(msg)
        event["insert_id"] = namespaced_insert_id(mapping.stream, insert_id)
    else:
        event["insert_id"] = insert_id_for(mapping.stream, record, key_properties, time_ms)
    user_props = mapping.user_properties or ()
    event["event_properties"] = _properties(
        record, mapping.event_properties, _field_sets(mapping)[2]
    )
    if user_props:
        event["user_properties"] = {f: record[f] for f in user_props if f in record}
    _add_groups(mapping, record, event)
    if event["event_type"] in IDENTIFY_EVENT_TYPES:
        _finish_identify_event(event)
    elif skip_user_properties_sync:
        event["$skip_user_properties_sync"] = True
    return event


def is_export_shaped(record: t.Mapping[str, t.Any]) -> bool:
    """True for a record in Amplitude's export shape (tap-amplitude's events stream).

    The test: both `$insert_id` and `server_upload_time` are keys of the record (their values
    may be null). Every Export API event has both; an ingest-shaped table has neither
    (Amplitude's ingest key is `insert_id`, and `server_upload_time` is assigned by Amplitude).
    """
    return "$insert_id" in record and "server_upload_time" in record


# What map_amplitude_shaped does with a record key: drop it, send it as the ingest key (when not
# null), keep it as an event property, or (an open column key such as 'plan') send an object as
# the ingest key and anything else as an event property.
_DROP, _INGEST, _EXTRA, _OPEN = range(4)
_EXPORT_ACTIONS: dict[str, tuple[int, str]] = {}
_INGEST_ACTIONS: dict[str, tuple[int, str]] = {}
_MAX_CACHED_KEYS = 10_000


def _key_action(key: str, *, export: bool) -> tuple[int, str]:
    """(action, ingest key) for one record key; cached, as every record repeats its keys.

    Export shape: renamed to ingest keys, server-side fields dropped. Ingest shape: Amplitude's
    ingest keys stay top-level and every other column is an event property (only Singer's
    `_sdc_*` metadata is left out).
    """
    cache = _EXPORT_ACTIONS if export else _INGEST_ACTIONS
    action = cache.get(key)
    if action is not None:
        return action
    target = EXPORT_RENAMES.get(key, key) if export else key
    if target.startswith("_sdc_") or (export and target in EXPORT_ONLY_FIELDS):
        action = (_DROP, target)
    elif target in _OPEN_COLUMN_KEYS:
        action = (_OPEN, target)
    elif target in INGEST_EVENT_KEYS:
        action = (_INGEST, target)
    else:
        action = (_EXTRA, target)
    if len(cache) < _MAX_CACHED_KEYS:
        cache[key] = action
    return action


# The most columns a key plan is compiled for; wider records take the general loop.
_MAX_PLAN_KEYS = 500


class _KeyPlan:
    """map_amplitude_shaped's work for records with one tuple of keys, in their order.

    Built once per key tuple (the records of a stream repeat theirs): `split` is a function
    compiled for exactly those keys, one statement per column in record order, doing what the
    general loop (_map_amplitude_shaped_loop) does for a record that is not an identify, with
    each key's action decided once instead of per record and the values read by position, not
    looked up. Only positions enter the generated source: the ingest keys are constants of its
    namespace (`K3`), so no record key is ever source code.
    """

    __slots__ = ("export", "source", "split")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.export = "$insert_id" in keys and "server_upload_time" in keys
        lines = ["def split(record):"]
        if keys:
            lines.append(f"    {', '.join(f'v{i}' for i in range(len(keys)))}, = record.values()")
        lines += ["    event = {}", "    extra = {}"]
        namespace: dict[str, t.Any] = {}
        for i, key in enumerate(keys):
            action, target = _key_action(key, export=self.export)
            if action == _DROP:
                continue
            namespace[f"K{i}"] = target
            if action == _INGEST:
                lines.append(f"    if v{i} is not None: event[K{i}] = v{i}")
            elif action == _EXTRA:
                lines.append(f"    extra[K{i}] = v{i}")
            else:  # _OPEN: an object is the ingest key, anything else an event property
                lines.append(
                    f"    if v{i} is not None: (event if isinstance(v{i}, dict) else extra)"
                    f"[K{i}] = v{i}"
                )
        lines.append("    return event, extra")
        self.source = "\n".join(lines)
        exec(compile(self.source, "<map_amplitude_shaped key plan>", "exec"), namespace)  # noqa: S102
        self.split: t.Callable[
            [t.Mapping[str, t.Any]], tuple[dict[str, t.Any], dict[str, t.Any]]
        ] = namespace["split"]


# Key tuple -> its plan. A plan is compiled at the second record with that key tuple, so records
# whose keys never repeat cost a set lookup more than the general loop, not a compilation each.
# At most _MAX_PLANS plans (key tuples met after that take the general loop), and at most
# _MAX_SEEN tuples remembered while they wait for their second record: memory stays bounded
# whatever the input (a few MB at the very most).
_PLANS: dict[tuple[str, ...], _KeyPlan] = {}
_SEEN_KEYS: set[tuple[str, ...]] = set()
_MAX_PLANS = 64
_MAX_SEEN = 256


def _plan_for(keys: tuple[str, ...]) -> _KeyPlan | None:
    """The plan of a key tuple met before (None at its first record, or when none is made)."""
    if len(_PLANS) >= _MAX_PLANS or len(keys) > _MAX_PLAN_KEYS:
        return None
    if keys not in _SEEN_KEYS:
        if len(_SEEN_KEYS) >= _MAX_SEEN:
            _SEEN_KEYS.clear()
        _SEEN_KEYS.add(keys)
        return None
    plan = _PLANS[keys] = _KeyPlan(keys)
    return plan


def map_amplitude_shaped(
    stream: str,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """An Amplitude-shaped record (ingest or export shape) -> an ingest event (section 8)."""
    identify = record.get("event_type") in IDENTIFY_EVENT_TYPES
    if not identify and type(record) is dict:
        plan = _PLANS.get(keys := tuple(record)) or _plan_for(keys)
        if plan is not None:
            event, extra = plan.split(record)
            return _finish_amplitude_shaped(
                stream,
                record,
                key_properties,
                event,
                extra,
                export=plan.export,
                identify=False,
                skip_user_properties_sync=skip_user_properties_sync,
            )
    return _map_amplitude_shaped_loop(
        stream, record, key_properties, skip_user_properties_sync=skip_user_properties_sync
    )


def _map_amplitude_shaped_loop(
    stream: str,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """map_amplitude_shaped, one record key at a time: the reference every plan must match."""
    event: dict[str, t.Any] = {}
    extra: dict[str, t.Any] = {}
    export = is_export_shaped(record)
    identify = record.get("event_type") in IDENTIFY_EVENT_TYPES
    cache = _EXPORT_ACTIONS if export else _INGEST_ACTIONS
    for key, value in record.items():
        action, target = cache.get(key) or _key_action(key, export=export)
        if action == _INGEST:
            if value is not None:
                event[target] = value
        elif action == _EXTRA:
            if identify and target == "group_properties":
                if value:
                    event[target] = value
            else:
                extra[target] = value
        elif action == _OPEN and value is not None:
            # A source column that only shares Amplitude's name (e.g. a 'plan' string): data.
            (event if isinstance(value, dict) else extra)[target] = value
        elif identify and target == "group_properties" and value:
            event[target] = value  # kept on $identify / $groupidentify (export shape too)
    return _finish_amplitude_shaped(
        stream,
        record,
        key_properties,
        event,
        extra,
        export=export,
        identify=identify,
        skip_user_properties_sync=skip_user_properties_sync,
    )


_SHAPED_TIME_HINT = (
    "Map the stream with stream_mappings (time_field, time_unit: s) if the column holds "
    "epoch seconds"
)


def _finish_amplitude_shaped(
    stream: str,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    event: dict[str, t.Any],
    extra: dict[str, t.Any],
    *,
    export: bool,
    identify: bool,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """Ids, time, event properties, insert_id and flags of an event the record's keys filled."""
    value = event.get("user_id")
    if value is not None and type(value) is not str:
        event["user_id"] = _id(value, "user_id")
    value = event.get("device_id")
    if value is not None and type(value) is not str:
        event["device_id"] = _id(value, "device_id")
    if "time" in event:
        event["time"] = _time(event, "time", hint=_SHAPED_TIME_HINT)
    elif export:
        for source in ("event_time", "client_event_time"):
            if record.get(source) is not None:
                event["time"] = _time(record, source, hint=_SHAPED_TIME_HINT)
                break
    elif "time" in record:
        msg = (
            "time is null: not sent stamped with the sync time. Map the stream with "
            "stream_mappings (time_field, null_time: upload_time) to send such rows at "
            "Amplitude's upload time"
        )
        raise RecordRejectedError(msg)
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
        event["insert_id"] = insert_id_for(stream, record, key_properties, event.get("time"))
    elif type(insert_id) is not str:
        event["insert_id"] = _id(insert_id, "insert_id")
    if identify:
        _finish_identify_event(event)
    elif skip_user_properties_sync or export:
        event["$skip_user_properties_sync"] = True
    return event


def map_identify(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A record of a user or device stream -> one /identify identification."""
    ident: dict[str, t.Any] = _top_level_fields(mapping, record)
    _add_ids(mapping, record, ident)
    ident["user_properties"] = _property_operations(mapping, record, mapping.user_properties)
    _add_groups(mapping, record, ident)
    return ident


def _group_ids(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    group_type = mapping.group_type
    if mapping.group_type_field:
        group_type = _id(
            record.get(mapping.group_type_field), f"group_type field '{mapping.group_type_field}'"
        )
    value_field = mapping.group_value_field or ""
    group_value = _id(record.get(value_field), f"group_value field '{value_field}'")
    return {"group_type": group_type, "group_value": group_value}


def map_group(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A record of a group stream -> one /groupidentify identification."""
    return {
        **_group_ids(mapping, record),
        "group_properties": _property_operations(mapping, record, mapping.group_properties),
    }


def _map_delete(mapping: StreamMapping, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A row deleted at the source (`_sdc_deleted_at` set), per the mapping's on_delete."""
    if mapping.object == "event" or mapping.on_delete == "skip":
        why = "an event is never sent for a delete" if mapping.object == "event" else "on_delete"
        msg = f"deleted at the source (_sdc_deleted_at): skipped ({why})"
        raise RecordSkippedError(msg)
    if mapping.object == "group":
        names = _mapped_property_names(mapping, record, mapping.group_properties)
        return {
            **_group_ids(mapping, record),
            "group_properties": {"$unset": dict.fromkeys(names, "-")} if names else {},
        }
    ident: dict[str, t.Any] = {}
    _add_ids(mapping, record, ident)
    names = _mapped_property_names(mapping, record, mapping.user_properties)
    ident["user_properties"] = {"$unset": dict.fromkeys(names, "-")} if names else {}
    return ident


def map_record(
    mapping: StreamMapping,
    record: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    skip_user_properties_sync: bool,
) -> dict[str, t.Any]:
    """Dispatch on deletes and the mapping's object kind.

    Raises RecordRejectedError (a reason for the rejected file) or RecordSkippedError (a delete
    deliberately not sent).
    """
    if record.get("_sdc_deleted_at") is not None and mapping.on_delete != "ignore":
        return _map_delete(mapping, record)
    if mapping.object == "event":
        if mapping.passthrough:
            return map_amplitude_shaped(
                mapping.stream,
                record,
                key_properties,
                skip_user_properties_sync=skip_user_properties_sync,
            )
        return map_event(
            mapping, record, key_properties, skip_user_properties_sync=skip_user_properties_sync
        )
    if mapping.object == "group":
        return map_group(mapping, record)
    return map_identify(mapping, record)
