"""Typed, validated settings: the target's config and each stream's mapping (pure)."""

from __future__ import annotations

import dataclasses
import typing as t
from dataclasses import dataclass, field

from jsonschema import Draft7Validator

from target_amplitude.config_schema import (
    CONFIG_SCHEMA,
    EVENTS_ENDPOINTS,
    GROUP_OPERATIONS,
    MAPPING_KEYS,
    MAPPING_SCHEMA,
    NULL_TIMES,
    USER_OPERATIONS,
    ObjectKind,
)
from target_amplitude.ledger.decide import ALLOWED_SYNC_MODES, DEFAULT_SYNC_MODE, SyncMode
from target_amplitude.regions import ANALYTICS_REGIONS, USERMAP_REGIONS, base_url

__all__ = [
    "CONFIG_SCHEMA",
    "EVENTS_ENDPOINTS",
    "GROUP_OPERATIONS",
    "NULL_TIMES",
    "USER_OPERATIONS",
    "SettingsError",
    "StreamMapping",
    "TargetSettings",
    "parse_stream_mapping",
    "target_settings",
]

# Amplitude top-level event/identify keys a mapping may fill from a record field via `fields`.
EVENT_TOP_LEVEL_KEYS = frozenset(
    {
        "session_id", "event_id", "app_version", "platform", "os_name", "os_version",
        "device_brand", "device_manufacturer", "device_model", "carrier", "country", "region",
        "city", "dma", "language", "location_lat", "location_lng", "ip", "user_agent", "price",
        "quantity", "revenue", "productId", "revenueType", "currency", "idfa", "idfv", "adid",
        "android_id", "paying", "start_version", "plan",
    }
)  # fmt: skip


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the setting and what to do."""


@dataclass(frozen=True, slots=True)
class StreamMapping:
    """How the records of one incoming stream become Amplitude payloads."""

    stream: str
    object: ObjectKind
    event_type: str | None = None
    event_type_field: str | None = None
    user_id_field: str | None = None
    device_id_field: str | None = None
    time_field: str | None = None
    insert_id_field: str | None = None
    # None: every field not used above.
    event_properties: tuple[str, ...] | None = None
    user_properties: tuple[str, ...] | None = None
    groups: tuple[tuple[str, str], ...] = ()
    # Amplitude operation ("$setOnce") -> fields; clear_all is a flag.
    operations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    clear_all: bool = False
    group_type: str | None = None
    group_type_field: str | None = None
    group_value_field: str | None = None
    group_properties: tuple[str, ...] | None = None
    # Amplitude top-level key -> record field (platform, revenue, session_id, ...).
    fields: tuple[tuple[str, str], ...] = ()
    # Events: the unit of a numeric time column, and what a null time means.
    time_unit: str = "ms"
    null_time: str = "reject"
    # Users/devices/groups: a null value is left out (skip) or becomes $unset (unset).
    null_behavior: str = "skip"
    # A row with _sdc_deleted_at: events are always skipped; profiles ignore, unset or skip.
    on_delete: str = "skip"
    # True when no mapping was configured and the stream is loaded as Amplitude-shaped events.
    passthrough: bool = False
    # user_mapping, deletion, cohort (admin objects).
    amplitude_id_field: str | None = None
    global_user_id_field: str | None = None
    unmap_field: str | None = None
    cohort_name: str | None = None
    cohort_id: str | None = None
    cohort_owner: str | None = None
    # Users/devices/groups: one event of this name per id after its update is accepted.
    touch_event: str | None = None
    # The sync ledger's mode (None: the object's default, DEFAULT_SYNC_MODE).
    sync_mode: SyncMode | None = None

    @property
    def effective_sync_mode(self) -> SyncMode:
        """sync_mode, or the object's default."""
        return self.sync_mode or DEFAULT_SYNC_MODE[self.object]

    def used_fields(self) -> frozenset[str]:
        """Record fields consumed by ids, time, type, groups, operations and `fields`."""
        used = {
            f
            for f in (
                self.event_type_field,
                self.user_id_field,
                self.device_id_field,
                self.time_field,
                self.insert_id_field,
                self.group_type_field,
                self.group_value_field,
                self.amplitude_id_field,
                self.global_user_id_field,
                self.unmap_field,
            )
            if f
        }
        used.update(f for _, f in self.groups)
        used.update(f for _, f in self.fields)
        used.update(self.operation_fields())
        return frozenset(used)

    def operation_fields(self) -> frozenset[str]:
        """Record fields named in a property operation (they are not also $set)."""
        return frozenset(f for _, op_fields in self.operations for f in op_fields)


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """The target's configuration, after the SDK validated it against CONFIG_SCHEMA.

    No defaults here: each lives once, in CONFIG_SCHEMA (the SDK fills unset keys with it).
    """

    api_key: str = field(repr=False)
    base_url: str
    data_region: str
    secret_key: str | None = field(repr=False)
    usermap_url: str
    analytics_url: str
    project_id: int | None
    deletion_requester: str | None
    allow_deletions: bool
    events_endpoint: str
    min_id_length: int | None
    max_concurrent_requests: int
    mapping_workers: int
    rejected_records_path: str
    fail_on_rejected: bool
    dry_run: bool
    skip_user_properties_sync: bool
    retry_deadline_seconds: float
    retry_initial_delay_seconds: float
    throttle_delay_seconds: float
    connect_timeout_seconds: float
    read_timeout_seconds: float
    hard_delete: bool
    stream_mappings: dict[str, StreamMapping]
    ledger_path: str = ".target-amplitude/ledger.sqlite"
    ledger_url: str | None = None
    full_resync: bool = False


def setting(config: t.Mapping[str, t.Any], name: str) -> t.Any:
    """The value, or CONFIG_SCHEMA's default when unset or null (the SDK fills only unset keys)."""
    value = config.get(name)
    if value is None:
        return CONFIG_SCHEMA["properties"][name].get("default")
    return value


def target_settings(config: t.Mapping[str, t.Any]) -> TargetSettings:
    """The typed settings of a config the SDK validated against CONFIG_SCHEMA.

    Types, ranges, enums and patterns are the schema's job; this adds the conversions (the
    base URL) and the cross-field rules of stream_mappings. Raises SettingsError naming the setting.
    """
    region = setting(config, "data_region")
    hard_delete = bool(setting(config, "hard_delete"))
    raw_mappings = setting(config, "stream_mappings") or {}
    mappings = {
        name: parse_stream_mapping(name, raw, hard_delete=hard_delete)
        for name, raw in raw_mappings.items()
    }
    try:
        url = base_url(region, setting(config, "api_url"))
        usermap_url = base_url(region, setting(config, "api_url"), USERMAP_REGIONS)
        analytics_url = base_url(
            region, setting(config, "analytics_api_url"), ANALYTICS_REGIONS, "analytics_api_url"
        )
    except (KeyError, ValueError) as exc:
        msg = f"Setting 'api_url', 'analytics_api_url' or 'data_region': {exc}."
        raise SettingsError(msg) from None
    _check_admin_settings(config, mappings)
    return TargetSettings(
        api_key=setting(config, "api_key"),
        base_url=url,
        data_region=region,
        secret_key=setting(config, "secret_key"),
        usermap_url=usermap_url,
        analytics_url=analytics_url,
        project_id=setting(config, "project_id"),
        deletion_requester=setting(config, "deletion_requester"),
        allow_deletions=bool(setting(config, "allow_deletions")),
        events_endpoint=setting(config, "events_endpoint"),
        min_id_length=setting(config, "min_id_length"),
        max_concurrent_requests=setting(config, "max_concurrent_requests"),
        mapping_workers=setting(config, "mapping_workers"),
        rejected_records_path=setting(config, "rejected_records_path"),
        fail_on_rejected=bool(setting(config, "fail_on_rejected")),
        dry_run=bool(setting(config, "dry_run")),
        skip_user_properties_sync=bool(setting(config, "skip_user_properties_sync")),
        retry_deadline_seconds=float(setting(config, "retry_deadline_seconds")),
        retry_initial_delay_seconds=float(setting(config, "retry_initial_delay_seconds")),
        throttle_delay_seconds=float(setting(config, "throttle_delay_seconds")),
        connect_timeout_seconds=float(setting(config, "connect_timeout_seconds")),
        read_timeout_seconds=float(setting(config, "read_timeout_seconds")),
        hard_delete=hard_delete,
        stream_mappings=mappings,
        ledger_path=setting(config, "ledger_path"),
        ledger_url=setting(config, "ledger_url"),
        full_resync=bool(setting(config, "full_resync")),
    )


def _check_admin_settings(
    config: t.Mapping[str, t.Any], mappings: dict[str, StreamMapping]
) -> None:
    """Settings that deletion and cohort mappings need (allow_deletions is checked at SCHEMA)."""
    for name, mapping in sorted(mappings.items()):
        needs: list[tuple[str, str]] = []
        if mapping.object in ("deletion", "cohort"):
            needs.append(("secret_key", "the project's secret key (HTTP Basic with api_key)"))
        if mapping.object == "deletion":
            needs.append(("deletion_requester", "the email of who requests the deletions"))
        if mapping.object == "cohort":
            needs.append(("project_id", "the numeric Amplitude project id (the upload's app_id)"))
        for key, what in needs:
            if setting(config, key) is None:
                msg = (
                    f"Setting '{key}' is required because stream_mappings.{name} maps to "
                    f"object: {mapping.object}: set it to {what}."
                )
                raise SettingsError(msg)


# A mapping's keys, types and allowed values are its JSON schema's (config_schema.MAPPING_SCHEMA),
# checked here once (_check_shape); what a schema cannot say (non-empty names, which keys go with
# which object, exactly one of two keys) is the reader's and parse_stream_mapping's.
# (jsonschema, as the SDK checks the config: no compile step at start.)
_SCHEMA_CHECK = Draft7Validator(MAPPING_SCHEMA)
_TYPE_PROBLEMS = {
    "string": "must be a non-empty string",
    "array": "must be a list of field names",
    "object": "must be an object of name -> field name",
}


def _check_shape(reader: _MappingReader) -> None:
    """The mapping against its JSON schema; the first problem names the stream and the key."""
    unknown = sorted(set(reader.raw) - MAPPING_KEYS)
    if unknown:
        reader.fail(unknown[0], f"unknown key; known keys: {', '.join(sorted(MAPPING_KEYS))}.")
    error = next(_SCHEMA_CHECK.iter_errors(reader.raw), None)
    if error is None:
        return
    key = ".".join(map(str, error.absolute_path)) or "object"
    definition = error.validator_value
    if error.validator == "enum":
        problem = f"must be one of {', '.join(map(str, definition))}"
    elif error.validator == "type":
        kind = definition[0] if isinstance(definition, list) else definition
        problem = _TYPE_PROBLEMS.get(kind, f"must be of type {kind}")
    else:  # required: the one required key
        reader.fail(key, "required: what each record becomes (event, user, ...).")
    reader.fail(key, f"{problem}, got {error.instance!r}.")


class _MappingReader:
    """Reads one stream mapping's keys (checked by _check_shape) with errors naming the stream
    and the key; a key set to null is a key not set."""

    def __init__(self, stream: str, raw: t.Mapping[str, t.Any]) -> None:
        self.stream = stream
        self.raw = {key: value for key, value in raw.items() if value is not None}

    def fail(self, key: str, problem: str) -> t.NoReturn:
        msg = f"stream_mappings.{self.stream}.{key}: {problem}"
        raise SettingsError(msg)

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value == "":
            self.fail(key, f"must be a non-empty string, got {value!r}.")
        return value

    def names(self, key: str, value: t.Any = None) -> tuple[str, ...]:
        value = self.raw.get(key) if value is None else value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, f"must be a list of field names, got {value!r}.")
        return tuple(value)

    def optional_names(self, key: str) -> tuple[str, ...] | None:
        return None if self.raw.get(key) is None else self.names(key)

    def choice(self, key: str, default: str) -> str:
        return t.cast("str", self.raw.get(key, default))

    def only_for(self, key: str, kinds: str) -> None:
        if self.raw.get(key) is not None:
            self.fail(key, f"applies to object: {kinds} only.")

    def string_map(self, key: str) -> tuple[tuple[str, str], ...]:
        value: dict[str, str] = self.raw.get(key) or {}
        if not all(k and v for k, v in value.items()):
            self.fail(key, f"must be an object of name -> field name, got {value!r}.")
        return tuple(value.items())


def _operations(
    reader: _MappingReader, allowed: dict[str, str]
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], bool]:
    raw = reader.raw.get("operations") or {}
    ops: list[tuple[str, tuple[str, ...]]] = []
    clear_all = False
    for name, value in raw.items():
        if name not in allowed:
            reader.fail(
                f"operations.{name}",
                f"unknown operation; allowed here: {', '.join(allowed)}.",
            )
        if name == "clear_all":
            if not isinstance(value, bool):
                reader.fail("operations.clear_all", "must be true or false.")
            clear_all = value
            continue
        ops.append((allowed[name], reader.names(f"operations.{name}", value)))
    return tuple(ops), clear_all


def parse_stream_mapping(stream: str, raw: t.Any, *, hard_delete: bool = False) -> StreamMapping:
    """Validate one entry of stream_mappings; errors name the stream and the key.

    `hard_delete` (the SDK's setting) makes on_delete default to unset for users, devices and
    groups; events never send a delete. sync_mode is checked against the object (mirror is
    refused for events: no HTTP API deletes an event).
    """
    mapping = _parse_stream_mapping(stream, raw, hard_delete=hard_delete)
    mode = raw.get("sync_mode") if isinstance(raw, dict) else None
    if mode is None:
        return mapping
    allowed = ALLOWED_SYNC_MODES[mapping.object]
    if mode not in allowed:
        why = {
            "event": " Amplitude's HTTP APIs cannot delete an event, so an event stream "
            "cannot be mirrored: use create_only (the default) or changed.",
            "cohort": " A cohort is the stream's rows: mirror (the default) sends ADD/REMOVE "
            "deltas, all uploads it whole.",
            "deletion": " A deletion is a request, not state: it is always sent.",
        }.get(mapping.object, "")
        msg = (
            f"stream_mappings.{stream}.sync_mode: {mode!r} is not allowed for object: "
            f"{mapping.object} (allowed: {', '.join(allowed)}).{why} Nothing was sent."
        )
        raise SettingsError(msg)
    return dataclasses.replace(mapping, sync_mode=t.cast("SyncMode", mode))


def _parse_stream_mapping(stream: str, raw: t.Any, *, hard_delete: bool = False) -> StreamMapping:
    reader = _MappingReader(stream, raw if isinstance(raw, dict) else {})
    if not isinstance(raw, dict):
        reader.fail("object", "the mapping must be an object with at least an 'object' key.")
    _check_shape(reader)
    kind = reader.raw["object"]
    if kind in ADMIN_OBJECTS:
        return _admin_mapping(reader, stream, kind)
    for key in ADMIN_KEYS:
        reader.only_for(key, "user_mapping, deletion, cohort")
    fields = reader.string_map("fields")
    for key, _ in fields:
        if key not in EVENT_TOP_LEVEL_KEYS:
            reader.fail(f"fields.{key}", "not an Amplitude event/identify key.")
    common: dict[str, t.Any] = {
        "stream": stream,
        "object": kind,
        "user_id_field": reader.text("user_id_field"),
        "device_id_field": reader.text("device_id_field"),
        "fields": fields,
    }
    if kind == "event" and set(reader.raw) <= AMPLITUDE_SHAPED_KEYS:
        # Only object (and sync_mode): the stream already has Amplitude's event shape, as an
        # unmapped one would (checked against its SCHEMA in sinks.resolve_mapping).
        return passthrough_mapping(stream)
    if kind == "event":
        event_type, event_type_field = reader.text("event_type"), reader.text("event_type_field")
        if (event_type is None) == (event_type_field is None):
            reader.fail("event_type", "set exactly one of event_type or event_type_field.")
        if not (common["user_id_field"] or common["device_id_field"]):
            reader.fail("user_id_field", "an event needs user_id_field or device_id_field.")
        reader.only_for("null_behavior", "user, device, group")
        reader.only_for("touch_event", "user, device, group")
        if reader.choice("on_delete", "skip") != "skip":
            reader.fail("on_delete", "events only support skip.")
        time_field = reader.text("time_field")
        null_time = reader.choice("null_time", "reject")
        if time_field is None:
            reader.only_for("time_unit", "event with a time_field")
            null_time = "upload_time"  # no time column: Amplitude's upload time, documented
        return StreamMapping(
            **common,
            time_unit=reader.choice("time_unit", "ms"),
            null_time=null_time,
            event_type=event_type,
            event_type_field=event_type_field,
            time_field=time_field,
            insert_id_field=reader.text("insert_id_field"),
            event_properties=reader.optional_names("event_properties"),
            user_properties=reader.optional_names("user_properties") or (),
            groups=reader.string_map("groups"),
        )
    for key in ("time_unit", "null_time"):
        reader.only_for(key, "event")
    profile_common: dict[str, t.Any] = {
        "null_behavior": reader.choice("null_behavior", "skip"),
        "on_delete": reader.choice("on_delete", "unset" if hard_delete else "ignore"),
        "touch_event": _touch_event(reader),
    }
    if kind == "group":
        group_type, group_type_field = reader.text("group_type"), reader.text("group_type_field")
        if (group_type is None) == (group_type_field is None):
            reader.fail("group_type", "set exactly one of group_type or group_type_field.")
        value_field = reader.text("group_value_field")
        if value_field is None:
            reader.fail("group_value_field", "required for object: group.")
        ops, _ = _operations(reader, GROUP_OPERATIONS)
        return StreamMapping(
            stream=stream,
            object="group",
            group_type=group_type,
            group_type_field=group_type_field,
            group_value_field=value_field,
            group_properties=reader.optional_names("group_properties"),
            operations=ops,
            **profile_common,
        )
    # user or device: an identify.
    id_key = "user_id_field" if kind == "user" else "device_id_field"
    if common[id_key] is None:
        reader.fail(id_key, f"required for object: {kind}.")
    ops, clear_all = _operations(reader, USER_OPERATIONS)
    return StreamMapping(
        **common,
        user_properties=reader.optional_names("user_properties"),
        groups=reader.string_map("groups"),
        operations=ops,
        clear_all=clear_all,
        **profile_common,
    )


def _touch_event(reader: _MappingReader) -> str | None:
    """touch_event: an event type a client may send (not Amplitude's own, nor `$...`)."""
    name = reader.text("touch_event")
    if name is not None and (
        not name.strip() or name.startswith(("$", "[Amplitude]")) or len(name) > 1024
    ):
        reader.fail(
            "touch_event",
            f"must be an event type of your own (not '$...' nor '[Amplitude] ...'), got {name!r}.",
        )
    return name


ADMIN_OBJECTS = frozenset({"user_mapping", "deletion", "cohort"})
# Mapping keys only the admin objects read, and the keys each admin object accepts.
ADMIN_KEYS = (
    "amplitude_id_field",
    "global_user_id_field",
    "unmap_field",
    "cohort_name",
    "cohort_id",
    "cohort_owner",
)
_ADMIN_ALLOWED = {
    "user_mapping": {"object", "user_id_field", "global_user_id_field", "unmap_field", "sync_mode"},
    "deletion": {"object", "user_id_field", "amplitude_id_field", "sync_mode"},
    "cohort": {
        "object",
        "sync_mode",
        "user_id_field",
        "amplitude_id_field",
        "cohort_name",
        "cohort_id",
        "cohort_owner",
    },
}


def _admin_mapping(reader: _MappingReader, stream: str, kind: str) -> StreamMapping:
    """user_mapping, deletion, cohort: the keys each needs, and nothing it would ignore."""
    allowed = _ADMIN_ALLOWED[kind]
    for key in sorted(reader.raw):
        if key not in allowed and reader.raw.get(key) is not None:
            reader.fail(key, f"not used by object: {kind} (it reads {', '.join(sorted(allowed))}).")
    user_id_field = reader.text("user_id_field")
    amplitude_id_field = reader.text("amplitude_id_field")
    if kind == "user_mapping":
        if user_id_field is None:
            reader.fail("user_id_field", "required for object: user_mapping.")
        global_field = reader.text("global_user_id_field")
        if global_field is None:
            reader.fail("global_user_id_field", "required for object: user_mapping.")
        return StreamMapping(
            stream=stream,
            object="user_mapping",
            user_id_field=user_id_field,
            global_user_id_field=global_field,
            unmap_field=reader.text("unmap_field"),
        )
    if (user_id_field is None) == (amplitude_id_field is None):
        reader.fail("user_id_field", "set exactly one of user_id_field or amplitude_id_field.")
    if kind == "deletion":
        return StreamMapping(
            stream=stream,
            object="deletion",
            user_id_field=user_id_field,
            amplitude_id_field=amplitude_id_field,
        )
    cohort_name, cohort_id = reader.text("cohort_name"), reader.text("cohort_id")
    if cohort_name is None and cohort_id is None:
        reader.fail(
            "cohort_name",
            "set cohort_name (a new cohort) or cohort_id (an existing cohort, replaced in place).",
        )
    owner = reader.text("cohort_owner")
    if owner is None or "@" not in owner:
        reader.fail("cohort_owner", "required for object: cohort: the owner's login email.")
    return StreamMapping(
        stream=stream,
        object="cohort",
        user_id_field=user_id_field,
        amplitude_id_field=amplitude_id_field,
        cohort_name=cohort_name,
        cohort_id=cohort_id,
        cohort_owner=owner,
    )


# An event mapping of only these keys loads an Amplitude-shaped stream as it is: the way to set
# sync_mode for such a stream (tap-amplitude's events, replayed).
AMPLITUDE_SHAPED_KEYS = frozenset({"object", "sync_mode"})


def passthrough_mapping(stream: str) -> StreamMapping:
    """The mapping for an unmapped stream that already has Amplitude's event shape."""
    return StreamMapping(stream=stream, object="event", passthrough=True)


def looks_like_events(schema: t.Mapping[str, t.Any]) -> bool:
    """True when a stream's schema has event_type and user_id or device_id."""
    props = schema.get("properties") or {}
    return "event_type" in props and ("user_id" in props or "device_id" in props)


def _suggested_mapping(fields: t.Sequence[str]) -> list[str]:
    """A plausible stream_mappings entry for the fields, or a template to fill in."""
    lowered = {f.lower(): f for f in fields}

    def find(*words: str) -> str | None:
        return next((f for low, f in lowered.items() if any(w in low for w in words)), None)

    if (field := find("device")) is not None:
        return ["object: device", f"device_id_field: {field}"]
    if (field := find("account", "company", "organization", "org_id", "group")) is not None:
        return ["object: group", "group_type: company", f"group_value_field: {field}"]
    if (field := find("user", "customer", "member", "person")) is not None:
        return ["object: user", f"user_id_field: {field}"]
    return ["object: user        # event | user | device | group", "user_id_field: <a field>"]


def missing_mapping_message(stream: str, schema: t.Mapping[str, t.Any]) -> str:
    """The error for an unmapped stream: deselect it, or a stream_mappings snippet to add."""
    props = list((schema.get("properties") or {}).keys())
    snippet = "".join(f"\n      {line}" for line in _suggested_mapping(props))
    return (
        f"Stream '{stream}' has no entry in stream_mappings and does not look like Amplitude "
        "events (no event_type with user_id or device_id), so nothing was sent. Either leave "
        "it out of the tap's selection (Meltano: `select` only the streams to load), or add a "
        f"mapping, for example:\n  stream_mappings:\n    {stream}:{snippet}\n"
        f"Fields of this stream: {', '.join(props) or '(none)'}."
    )
