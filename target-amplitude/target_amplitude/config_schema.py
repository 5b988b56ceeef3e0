"""The target's settings as one JSON schema: types, ranges, enums, patterns, titles, defaults.

The one place a setting's rules and default live. The SDK validates every config against it and
fills in the defaults before the target starts; settings.py adds only conversions and the
cross-field rules of stream_mappings. meltano.yml, the README table and the Hub definition are
checked against (or generated from) `target-amplitude --about`, i.e. this schema.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from target_amplitude.ledger.decide import SYNC_MODES
from target_amplitude.regions import API_URL_PATTERN, DEFAULT_REGION, REGIONS

ObjectKind = t.Literal["event", "user", "device", "group", "user_mapping", "deletion", "cohort"]
OBJECT_KINDS: tuple[ObjectKind, ...] = (
    "event",
    "user",
    "device",
    "group",
    "user_mapping",
    "deletion",
    "cohort",
)
EVENTS_ENDPOINTS = ("batch", "httpapi")
TIME_UNITS = ("ms", "s")
NULL_TIMES = ("reject", "upload_time")
NULL_BEHAVIORS = ("skip", "unset")
ON_DELETE = ("ignore", "unset", "skip")

# Setting name -> Amplitude operation, in the order Amplitude documents them.
USER_OPERATIONS: dict[str, str] = {
    "set": "$set",
    "set_once": "$setOnce",
    "add": "$add",
    "append": "$append",
    "prepend": "$prepend",
    "unset": "$unset",
    "pre_insert": "$preInsert",
    "post_insert": "$postInsert",
    "remove": "$remove",
    "clear_all": "$clearAll",
}
GROUP_OPERATIONS: dict[str, str] = {
    k: USER_OPERATIONS[k] for k in ("set", "set_once", "add", "append", "prepend", "unset")
}

_NAMES = th.ArrayType(th.StringType)
_STREAM_MAPPING = th.ObjectType(
    th.Property(
        "object",
        th.StringType(allowed_values=list(OBJECT_KINDS)),
        required=True,
        description="What each record becomes: an event, a user or device profile update "
        "(/identify), a group's properties (/groupidentify), a user mapping (/usermap), a "
        "privacy deletion (/api/2/deletions/users; needs allow_deletions) or a member of a "
        "cohort (/api/3/cohorts/upload: the stream's rows are the cohort).",
    ),
    th.Property("event_type", th.StringType, description="Literal event type (events)."),
    th.Property("event_type_field", th.StringType, description="Field holding the event type."),
    th.Property("user_id_field", th.StringType, description="Field holding the user_id."),
    th.Property("device_id_field", th.StringType, description="Field holding the device_id."),
    th.Property(
        "amplitude_id_field",
        th.StringType,
        description="Deletions and cohorts: field holding the Amplitude ID (instead of "
        "user_id_field).",
    ),
    th.Property(
        "global_user_id_field",
        th.StringType,
        description="User mappings: field holding the global user ID the user_id maps to.",
    ),
    th.Property(
        "unmap_field",
        th.StringType,
        description="User mappings: boolean field; true unmaps the user_id instead.",
    ),
    th.Property(
        "cohort_name",
        th.StringType,
        description="Cohorts: the name of the cohort created (or renamed) from the stream.",
    ),
    th.Property(
        "cohort_id",
        th.StringType,
        description="Cohorts: id of an existing cohort whose members are replaced in place.",
    ),
    th.Property(
        "cohort_owner",
        th.StringType,
        description="Cohorts: login email of the cohort's owner in Amplitude.",
    ),
    th.Property(
        "time_field",
        th.StringType,
        description="Field with the event time: RFC 3339 / ISO 8601 string, or an epoch number "
        "in time_unit. A numeric time before 2001 is rejected (a unit mistake), never sent as "
        "1970. Without time_field, events get Amplitude's upload time.",
    ),
    th.Property(
        "time_unit",
        th.StringType(allowed_values=list(TIME_UNITS)),
        description="Events: unit of a numeric time_field: ms (default) or s (epoch seconds).",
    ),
    th.Property(
        "null_time",
        th.StringType(allowed_values=["upload_time"]),
        description="Events: a null time_field value is rejected with a reason unless this is "
        "upload_time (sent at Amplitude's upload time).",
    ),
    th.Property(
        "insert_id_field",
        th.StringType,
        description="Field used as insert_id, sent as '<stream>:<value>' so ids of two streams "
        "never collide. Default: a deterministic hash of the stream, the key properties (or the "
        "record without _sdc_* fields) and the mapped time, so re-runs never duplicate.",
    ),
    th.Property(
        "event_properties",
        _NAMES,
        description="Fields sent as event_properties. Default: every field not used above.",
    ),
    th.Property(
        "user_properties",
        _NAMES,
        description="Events: fields sent as user_properties. Users/devices: fields to $set "
        "(default: every field not used by ids or operations).",
    ),
    th.Property(
        "group_properties",
        _NAMES,
        description="Groups: fields to $set (default: every field not used elsewhere).",
    ),
    th.Property(
        "groups",
        th.ObjectType(additional_properties=th.StringType),
        description="Group type -> field holding the group value (events, users, devices).",
    ),
    th.Property(
        "operations",
        th.ObjectType(additional_properties=th.AnyType),
        description="Property operations -> list of fields. Users/devices: "
        + ", ".join(USER_OPERATIONS)
        + " (clear_all: true/false). Groups: "
        + ", ".join(GROUP_OPERATIONS)
        + ". Fields not named in an operation are $set.",
    ),
    th.Property("group_type", th.StringType, description="Groups: literal group type."),
    th.Property("group_type_field", th.StringType, description="Groups: field with the type."),
    th.Property("group_value_field", th.StringType, description="Groups: field with the value."),
    th.Property(
        "null_behavior",
        th.StringType(allowed_values=list(NULL_BEHAVIORS)),
        description="Users/devices/groups: a null value is left out (skip, the default) or "
        "clears the property in Amplitude ($unset).",
    ),
    th.Property(
        "on_delete",
        th.StringType(allowed_values=list(ON_DELETE)),
        description="A row with _sdc_deleted_at set (log-based sources, add_record_metadata). "
        "Users/devices/groups: ignore (load it as any row; the default), unset (clear the "
        "mapped properties; the default when hard_delete is true) or skip. Events: always skip "
        "(a delete is never sent as a new event).",
    ),
    th.Property(
        "touch_event",
        th.StringType,
        description="Users/devices/groups (opt-in, default off): after a batch of profile "
        "updates is accepted, send one event of this name per updated id (a group's carries "
        "the group and a device_id of its own), so the new values show at once (an update "
        "shows only on later events). Each touch counts toward the event volume.",
    ),
    th.Property(
        "sync_mode",
        th.StringType(allowed_values=list(SYNC_MODES)),
        description="What the sync ledger sends (docs/ledger.md): create_only (an insert_id "
        "acknowledged once is never sent again; the default for events), changed (a row only "
        "when its mapped payload differs from the one last acknowledged; the default for users, "
        "devices, groups and user mappings), mirror (changed, and rows gone from a full snapshot "
        "(ACTIVATE_VERSION) get their mapped properties unset or leave the cohort; the default "
        "for cohorts; not for events) or all (every row, the ledger not consulted). For a stream "
        "already shaped as Amplitude events (tap-amplitude's events), a mapping of object: event "
        "and sync_mode alone.",
    ),
    th.Property(
        "fields",
        th.ObjectType(additional_properties=th.StringType),
        description="Amplitude top-level key (platform, country, revenue, session_id, ...) -> "
        "record field.",
    ),
    additional_properties=False,
)
# One stream mapping's JSON schema: its keys, their types and allowed values (settings.py checks
# each mapping against it; the SDK checks the whole config against CONFIG_SCHEMA).
MAPPING_SCHEMA: dict[str, t.Any] = _STREAM_MAPPING.to_dict()
MAPPING_KEYS: frozenset[str] = frozenset(MAPPING_SCHEMA["properties"])


def _prop(name: str, title: str, wrapped: t.Any, description: str, **kwargs: t.Any) -> th.Property:
    return th.Property(name, wrapped, title=title, description=description, **kwargs)


CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    _prop(
        "api_key",
        "API Key",
        th.StringType(min_length=1, pattern=r"\S"),
        "The Amplitude project's API key (ingestion).",
        required=True,
        secret=True,
    ),
    _prop(
        "secret_key",
        "Secret Key",
        th.StringType(min_length=1, pattern=r"\S"),
        "The project's secret key: needed for deletions and cohorts (HTTP Basic with api_key).",
        secret=True,
    ),
    _prop(
        "data_region",
        "Data Region",
        th.StringType(allowed_values=list(REGIONS)),
        "The project's region: Standard Server (api2.amplitude.com) or EU Residency Server "
        "(api.eu.amplitude.com). Keys only work in their own region.",
        default=DEFAULT_REGION,
    ),
    _prop(
        "api_url",
        "API URL Override",
        th.StringType(pattern=API_URL_PATTERN),
        "Ingestion base URL override (a proxy, the local emulator): http(s)://host[/path], no "
        "query; /batch, /2/httpapi, /identify, /groupidentify and /usermap are appended.",
    ),
    _prop(
        "analytics_api_url",
        "Analytics API URL Override",
        th.StringType(pattern=API_URL_PATTERN),
        "Override of the Basic-auth REST host for deletions and cohorts (default "
        "https://amplitude.com, EU https://analytics.eu.amplitude.com): http(s)://host[/path].",
    ),
    _prop(
        "project_id",
        "Project ID",
        th.IntegerType(minimum=1),
        "The numeric Amplitude project id (the cohort upload's app_id); required only when a "
        "stream maps to a cohort.",
    ),
    _prop(
        "deletion_requester",
        "Deletion Requester",
        th.StringType(pattern=r"^[^@\s]+@[^@\s]+$"),
        "Email of the person requesting privacy deletions (sent as requester); required when a "
        "stream maps to deletion.",
    ),
    _prop(
        "allow_deletions",
        "Allow Deletions",
        th.BooleanType,
        "Deletions are destructive and irreversible once run: a stream mapped to deletion fails "
        "at its SCHEMA message unless this is true.",
        default=False,
    ),
    _prop(
        "events_endpoint",
        "Events Endpoint",
        th.StringType(allowed_values=list(EVENTS_ENDPOINTS)),
        "batch (/batch: bulk loads, the default) or httpapi (/2/httpapi).",
        default="batch",
    ),
    _prop(
        "min_id_length",
        "Minimum ID Length",
        th.IntegerType(minimum=1),
        "Minimum user_id/device_id length (Amplitude's default is 5); sent as "
        "options.min_id_length.",
    ),
    _prop(
        "max_concurrent_requests",
        "Max Concurrent Requests",
        th.IntegerType(minimum=1),
        "Requests in flight at once. Events of one device stay in order.",
        default=4,
    ),
    _prop(
        "mapping_workers",
        "Mapping Workers",
        th.IntegerType(minimum=0, maximum=16),
        "Processes that decode, check and map records beside the target's own, for large runs "
        "(one starts after the first 1,000 records, forked from the target on Linux: a few "
        "milliseconds; elsewhere after 5,000, started as its own program: half a second of CPU). "
        "Records are taken in their order, with the same payloads, rejects and STATE as "
        "without. 0: everything in the target's process (none starts on one CPU core anyway).",
        default=1,
    ),
    _prop(
        "rejected_records_path",
        "Rejected Records Path",
        th.StringType(min_length=1),
        "JSON-lines file receiving every rejected record with its stream, original record, "
        "mapped payload and reason.",
        default="rejected-records.jsonl",
    ),
    _prop(
        "fail_on_rejected",
        "Fail On Rejected",
        th.BooleanType,
        "Exit non-zero at the end (after delivering everything else) when any record was rejected.",
        default=False,
    ),
    _prop(
        "dry_run",
        "Dry Run",
        th.BooleanType,
        "Validate and map everything, count what would be sent, send nothing (cohorts: one "
        "upload with Amplitude's skip_save, which validates without saving).",
        default=False,
    ),
    _prop(
        "ledger_path",
        "Ledger Path",
        th.StringType(min_length=1),
        "The sync ledger's SQLite file: what Amplitude acknowledged, so events are created once "
        "and profiles sent only when they change (docs/ledger.md). Relative to the working "
        "directory (Meltano: the project's root). With ledger_url, the local working copy.",
        default=".target-amplitude/ledger.sqlite",
    ),
    _prop(
        "ledger_url",
        "Ledger URL",
        th.StringType(pattern=r"^(s3|gs|gcs|az|abfs|file)://\S+$"),
        "Keep the sync ledger in an object store too, for runners whose disk does not survive "
        "the run: s3://, gs://, az:// (extras s3, gcs, azure) or file://. Downloaded at the "
        "start, uploaded before STATE; credentials from the standard chain and environment.",
    ),
    _prop(
        "full_resync",
        "Full Resync",
        th.BooleanType,
        "For one run, send every row whatever the sync ledger says was sent (and refresh the "
        "ledger from Amplitude's answers): for a project whose data was deleted or restored.",
        default=False,
    ),
    _prop(
        "skip_user_properties_sync",
        "Skip User Properties Sync",
        th.BooleanType,
        "Set $skip_user_properties_sync on events (backfills and replays).",
        default=False,
    ),
    _prop(
        "hard_delete",
        "Hard Delete",
        th.BooleanType,
        "Mirror deletes: rows with _sdc_deleted_at clear their mapped user, device and group "
        "properties (on_delete: unset) unless a mapping sets on_delete. Events of deleted rows "
        "are never sent.",
        default=False,
    ),
    _prop(
        "stream_mappings",
        "Stream Mappings",
        th.ObjectType(additional_properties=_STREAM_MAPPING),
        "Per incoming stream: how its records become Amplitude objects. An unmapped stream "
        "with event_type and user_id/device_id is loaded as events.",
    ),
    _prop(
        "retry_deadline_seconds",
        "Retry Deadline (seconds)",
        th.DecimalType(minimum=0),
        "How long 5xx, timeouts and dropped connections are retried (with backoff and the "
        "same insert_id) before the run fails.",
        default=300,
    ),
    _prop(
        "retry_initial_delay_seconds",
        "Retry Initial Delay (seconds)",
        th.DecimalType(minimum=0),
        "First backoff delay for transient failures (doubles, with jitter).",
        default=1,
    ),
    _prop(
        "throttle_delay_seconds",
        "Throttle Delay (seconds)",
        th.DecimalType(minimum=0),
        "How long throttled users/devices (429) are held back when Amplitude sends no "
        "Retry-After (this to 2x this, with jitter).",
        default=15,
    ),
    _prop(
        "connect_timeout_seconds",
        "Connect Timeout (seconds)",
        th.DecimalType(exclusive_minimum=0),
        "Connect timeout.",
        default=10,
    ),
    _prop(
        "read_timeout_seconds",
        "Read Timeout (seconds)",
        th.DecimalType(exclusive_minimum=0),
        "Response timeout.",
        default=60,
    ),
).to_dict()
