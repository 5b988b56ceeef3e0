"""TargetAmplitude: the Singer target's settings, run lifecycle and STATE handling."""

from __future__ import annotations

import logging
import sys
import typing as t

from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.target_base import Target

from target_amplitude.client import AmplitudeClient
from target_amplitude.delivery import DeliveryEngine, DeliveryError, RetryPolicy
from target_amplitude.reader import InputLineError, LineCountingReader
from target_amplitude.rejects import RejectsWriter
from target_amplitude.settings import (
    EVENTS_ENDPOINTS,
    GROUP_OPERATIONS,
    REGION_URLS,
    USER_OPERATIONS,
    ConfigError,
    Settings,
    parse_settings,
)
from target_amplitude.sinks import AmplitudeSink, RunContext
from target_amplitude.stats import RunStats

if t.TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum


class RejectedRecordsError(Exception):
    """fail_on_rejected is set and records were rejected (everything else was delivered)."""


_NAMES = th.ArrayType(th.StringType)
_STREAM_MAPPING = th.ObjectType(
    th.Property(
        "object",
        th.StringType(allowed_values=["event", "user", "device", "group"]),
        required=True,
        description="What each record becomes: an event, a user or device profile update "
        "(/identify), or a group's properties (/groupidentify).",
    ),
    th.Property("event_type", th.StringType, description="Literal event type (events)."),
    th.Property("event_type_field", th.StringType, description="Field holding the event type."),
    th.Property("user_id_field", th.StringType, description="Field holding the user_id."),
    th.Property("device_id_field", th.StringType, description="Field holding the device_id."),
    th.Property(
        "time_field",
        th.StringType,
        description="Field with the event time: RFC 3339 / ISO 8601 string, or an epoch number "
        "in time_unit. A numeric time before 2001 is rejected (a unit mistake), never sent as "
        "1970. Without time_field, events get Amplitude's upload time.",
    ),
    th.Property(
        "time_unit",
        th.StringType(allowed_values=["ms", "s"]),
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
        th.StringType(allowed_values=["skip", "unset"]),
        description="Users/devices/groups: a null value is left out (skip, the default) or "
        "clears the property in Amplitude ($unset).",
    ),
    th.Property(
        "on_delete",
        th.StringType(allowed_values=["ignore", "unset", "skip"]),
        description="A row with _sdc_deleted_at set (log-based sources, add_record_metadata). "
        "Users/devices/groups: ignore (load it as any row; the default), unset (clear the "
        "mapped properties; the default when hard_delete is true) or skip. Events: always skip "
        "(a delete is never sent as a new event).",
    ),
    th.Property(
        "fields",
        th.ObjectType(additional_properties=th.StringType),
        description="Amplitude top-level key (platform, country, revenue, session_id, ...) -> "
        "record field.",
    ),
)


class TargetAmplitude(Target):
    """Load any stream into Amplitude as events, user/device profiles or groups."""

    name = "target-amplitude"
    package_name = "singer-target-amplitude"  # the distribution on PyPI: --about reads its version
    default_sink_class = AmplitudeSink
    message_reader_class = LineCountingReader
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="The Amplitude project's API key (ingestion).",
        ),
        th.Property(
            "data_region",
            th.StringType(allowed_values=list(REGION_URLS)),
            default="Standard Server",
            description="The project's region: Standard Server (api2.amplitude.com) or EU "
            "Residency Server (api.eu.amplitude.com). Keys only work in their own region.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="Ingestion base URL override (a proxy, the local emulator); /batch, "
            "/2/httpapi, /identify and /groupidentify are appended.",
        ),
        th.Property(
            "events_endpoint",
            th.StringType(allowed_values=list(EVENTS_ENDPOINTS)),
            default="batch",
            description="batch (/batch: bulk loads, the default) or httpapi (/2/httpapi).",
        ),
        th.Property(
            "min_id_length",
            th.IntegerType,
            description="Minimum user_id/device_id length (Amplitude's default is 5); sent as "
            "options.min_id_length.",
        ),
        th.Property(
            "max_concurrent_requests",
            th.IntegerType,
            default=4,
            description="Requests in flight at once. Events of one device stay in order.",
        ),
        th.Property(
            "rejected_records_path",
            th.StringType,
            default="rejected-records.jsonl",
            description="JSON-lines file receiving every rejected record with its stream, "
            "original record, mapped payload and reason.",
        ),
        th.Property(
            "fail_on_rejected",
            th.BooleanType,
            default=False,
            description="Exit non-zero at the end (after delivering everything else) when any "
            "record was rejected.",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Validate and map everything, count what would be sent, send nothing.",
        ),
        th.Property(
            "skip_user_properties_sync",
            th.BooleanType,
            default=False,
            description="Set $skip_user_properties_sync on events (backfills and replays).",
        ),
        th.Property(
            "hard_delete",
            th.BooleanType,
            default=False,
            description="Mirror deletes: rows with _sdc_deleted_at clear their mapped user, "
            "device and group properties (on_delete: unset) unless a mapping sets on_delete. "
            "Events of deleted rows are never sent.",
        ),
        th.Property(
            "stream_mappings",
            th.ObjectType(additional_properties=_STREAM_MAPPING),
            description="Per incoming stream: how its records become Amplitude objects. An "
            "unmapped stream with event_type and user_id/device_id is loaded as events.",
        ),
        th.Property(
            "retry_deadline_seconds",
            th.NumberType,
            default=300,
            description="How long 5xx, timeouts and dropped connections are retried (with "
            "backoff and the same insert_id) before the run fails.",
        ),
        th.Property(
            "retry_initial_delay_seconds",
            th.NumberType,
            default=1,
            description="First backoff delay for transient failures (doubles, with jitter).",
        ),
        th.Property(
            "throttle_delay_seconds",
            th.NumberType,
            default=15,
            description="How long throttled users/devices (429) are held back when Amplitude "
            "sends no Retry-After (15 to 2x this, with jitter).",
        ),
        th.Property(
            "connect_timeout_seconds", th.NumberType, default=10, description="Connect timeout."
        ),
        th.Property(
            "read_timeout_seconds", th.NumberType, default=60, description="Response timeout."
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Validate the settings up front; sinks share one client, engine and rejects file."""
        super().__init__(*args, **kwargs)
        self._last_written_state: dict | None = None
        self.max_parallelism = 1  # sinks drain one at a time; the engine owns concurrency
        self.settings: Settings = parse_settings(self.config)
        self.run_context = self._build_run_context(self.settings)
        if isinstance(self.message_reader, LineCountingReader):
            self.message_reader.before_failing = self._deliver_before_failing

    @staticmethod
    def _build_run_context(settings: Settings) -> RunContext:
        engine = None
        if not settings.dry_run:
            client = AmplitudeClient(
                base_url=settings.base_url,
                api_key=settings.api_key,
                pool_size=settings.max_concurrent_requests,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
                min_id_length=settings.min_id_length,
            )
            hint = (
                f"Check that the api_key setting belongs to a project in data_region "
                f"'{settings.data_region}' (keys work only in their own region: EU projects "
                f"need 'EU Residency Server') and that requests reach {settings.base_url}."
            )
            engine = DeliveryEngine(
                client.post,
                concurrency=settings.max_concurrent_requests,
                policy=RetryPolicy(
                    deadline_seconds=settings.retry_deadline_seconds,
                    initial_delay_seconds=settings.retry_initial_delay_seconds,
                    throttle_delay_seconds=settings.throttle_delay_seconds,
                ),
                fatal_hint=hint,
            )
        return RunContext(
            settings=settings,
            engine=engine,
            rejects=RejectsWriter(settings.rejected_records_path),
            stats=RunStats(),
        )

    # STATE: the SDK emits the latest STATE after drain_all(), i.e. once every record before it
    # is accepted or rejected. It drains all sinks only at the end (or every 5 minutes), so a
    # STATE arriving after a full batch was delivered triggers a drain_all() here: resumable
    # checkpoints about once per batch, never ahead of the data.
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        if self.run_context.progressed:
            self.drain_all()

    def _write_state_message(self, state: dict) -> None:
        self.run_context.wait()
        self.run_context.rejects.flush()
        self.run_context.progressed = False
        if self.settings.dry_run:
            # Nothing was sent: a saved STATE would make the next real run skip these records.
            if self._last_written_state is None:
                self.logger.info("dry_run: STATE messages are not emitted (nothing was sent).")
                self._last_written_state = {}
            return
        if state != self._last_written_state:
            self._last_written_state = state
            super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        """Deliver everything, emit the last STATE, log the summary, apply fail_on_rejected."""
        try:
            super().process_endofpipe()
            self.run_context.wait()
        finally:
            self._finish()
        rejected = self.run_context.stats.total_rejected
        if self.settings.fail_on_rejected and rejected:
            msg = (
                f"{rejected} record(s) were rejected (see {self.settings.rejected_records_path}); "
                "everything else was delivered. Failing because fail_on_rejected is true."
            )
            raise RejectedRecordsError(msg)

    def _deliver_before_failing(self) -> None:
        """A bad input line: deliver what was read before it and emit the last STATE."""
        try:
            self.drain_all()
            self.run_context.wait()
        finally:
            self._finish()

    def _finish(self) -> None:
        ctx = self.run_context
        ctx.rejects.close()
        ctx.close()
        for line in ctx.stats.summary_lines(dry_run=self.settings.dry_run):
            self.logger.info(line)

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the CLI; known errors end the run with their message and exit code 1."""
        try:
            super().invoke(*args, **kwargs)
        except (ConfigError, DeliveryError, InputLineError, RejectedRecordsError) as exc:
            logging.getLogger(cls.name).error("%s: %s", type(exc).__name__, exc)
            sys.exit(1)
