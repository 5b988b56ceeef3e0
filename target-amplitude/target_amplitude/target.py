"""TargetAmplitude: the Singer target's settings, run lifecycle and STATE handling."""

from __future__ import annotations

import logging
import sys
import typing as t

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import TargetCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.target_base import Target

from target_amplitude.admin_client import AdminClient
from target_amplitude.admin_delivery import AdminSender
from target_amplitude.admin_sinks import ADMIN_SINKS
from target_amplitude.client import IngestClient
from target_amplitude.config_schema import CONFIG_SCHEMA
from target_amplitude.delivery import DeliveryEngine, DeliveryError, DeliveryRetryPolicy
from target_amplitude.pipeline import DeliveryMetrics, DeliveryPipeline
from target_amplitude.reader import InputLineError, LineCountingReader
from target_amplitude.rejects import RejectsWriter
from target_amplitude.settings import ConfigError, TargetSettings, target_settings
from target_amplitude.sinks import AmplitudeSink
from target_amplitude.stats import RunStats

if t.TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.sinks import Sink


class RejectedRecordsError(Exception):
    """fail_on_rejected is set and records were rejected (everything else was delivered)."""


class TargetAmplitude(Target):
    """Load any stream into Amplitude as events, user/device profiles or groups."""

    name = "target-amplitude"
    package_name = "singer-target-amplitude"  # the distribution on PyPI: --about reads its version
    default_sink_class = AmplitudeSink
    message_reader_class = LineCountingReader
    # The SDK's own list (about, stream-maps, schema-flattening, structured-logging,
    # validate-records) plus hard-delete (stream_mappings' on_delete).
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        *Target.capabilities,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Validate the settings up front; sinks share one client, engine and rejects file."""
        super().__init__(*args, **kwargs)
        self._last_written_state: dict | None = None
        self.max_parallelism = 1  # sinks drain one at a time; the engine owns concurrency
        # The SDK validated the config against CONFIG_SCHEMA and filled in its defaults; what is
        # left are the cross-field rules, failing fast the same way (no traceback, exit 1).
        try:
            self.settings: TargetSettings = target_settings(self.config)
        except ConfigError as exc:
            if kwargs.get("validate_config", True):
                raise ConfigValidationError(
                    "Config validation failed", errors=[str(exc)], schema=self.config_jsonschema
                ) from None
            raise
        self.pipeline = self._build_pipeline(self.settings)
        if isinstance(self.message_reader, LineCountingReader):
            self.message_reader.before_failing = self._deliver_before_failing

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """AmplitudeSink, or the sink of a user_mapping, deletion or cohort mapping."""
        mapping = self.settings.stream_mappings.get(stream_name)
        if mapping is not None and mapping.object in ADMIN_SINKS:
            return ADMIN_SINKS[mapping.object]
        return super().get_sink_class(stream_name)

    @staticmethod
    def _build_pipeline(settings: TargetSettings) -> DeliveryPipeline:
        policy = DeliveryRetryPolicy(
            deadline_seconds=settings.retry_deadline_seconds,
            initial_delay_seconds=settings.retry_initial_delay_seconds,
            throttle_delay_seconds=settings.throttle_delay_seconds,
        )
        admin = None
        if any(m.object in ADMIN_SINKS for m in settings.stream_mappings.values()):
            admin = AdminSender(
                AdminClient(
                    api_key=settings.api_key,
                    secret_key=settings.secret_key,
                    usermap_url=settings.usermap_url,
                    analytics_url=settings.analytics_url,
                    connect_timeout=settings.connect_timeout_seconds,
                    read_timeout=settings.read_timeout_seconds,
                ),
                policy,
                on_request=DeliveryMetrics.request,
            )
        engine = None
        if not settings.dry_run:
            client = IngestClient(
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
                policy=policy,
                fatal_hint=hint,
                on_request=DeliveryMetrics.request,
            )
        return DeliveryPipeline(
            settings,
            engine,
            RejectsWriter(settings.rejected_records_path),
            RunStats(),
            admin=admin,
        )

    # -- Private SDK overrides (singer-sdk 0.54.9; guarded by tests/target/test_sdk_seams.py) --
    # Still private on meltano/sdk main 136de07; no public hook runs on STATE or before STATE.
    #
    # STATE: the SDK emits the latest STATE after drain_all(), i.e. once every record before it
    # is accepted or rejected. It drains all sinks only at the end (or every 5 minutes), so a
    # STATE arriving after a full batch was delivered triggers a drain_all() here: resumable
    # checkpoints about once per batch, never ahead of the data.
    # singer-sdk 0.54.9 Target._process_state_message (target_base.py:410): no "drain on STATE".
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        if self.pipeline.progressed:
            self.drain_all()

    # singer-sdk 0.54.9 Target._process_record_message (target_base.py:302): for every record it
    # copies the record, runs the stream map, asks the sink for a context, whether to add
    # metadata, _validate_and_parse and preprocess_record, and logs at debug level. For a stream
    # without stream maps or flattening, into an AmplitudeSink (whose context is empty and whose
    # _validate_and_parse and preprocess_record return the record as is), without debug logging,
    # all that is a few us per record for nothing. No public seam skips it (the SDK's
    # per-record hooks all run inside this method). The fast path runs the steps that do
    # something, in the SDK's order: _remove_sdc_metadata_from_record, _singer_validate_message
    # (key properties), tally_record_read, process_record (take, keeping the input line), the
    # record counter, drain when full, the max-record-age drain; anything else takes the SDK's
    # path. tests/target/test_fast_path.py: both paths give the same events, rejects and output;
    # tests/target/test_sdk_seams.py pins the SDK method this mirrors.
    def _process_record_message(self, message_dict: dict) -> None:
        sink = self._fast_path_sink(message_dict)
        if sink is None:
            super()._process_record_message(message_dict)
            return
        record = message_dict["record"]
        sink._remove_sdc_metadata_from_record(record)
        sink._singer_validate_message(record)
        sink.tally_record_read()
        line = getattr(self.message_reader, "line", None)
        sink.take(record, line if isinstance(line, bytes) else None)
        sink.record_counter_metric.increment()
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
        self._handle_max_record_age()

    def _fast_path_sink(self, message_dict: dict) -> AmplitudeSink | None:
        """The record's sink when the SDK's per-record steps would not change the record."""
        stream = message_dict.get("stream")
        if type(message_dict.get("record")) is not dict or not isinstance(stream, str):
            return None
        stream_maps = self.mapper.stream_maps.get(stream)
        if not stream_maps or len(stream_maps) != 1:
            return None
        stream_map = stream_maps[0]
        if (
            type(stream_map) is not SameRecordTransform
            or stream_map.stream_alias != stream
            or stream_map.flattening_enabled
        ):
            return None
        try:
            sink = self.get_sink(stream)
        except KeyError:
            return None
        if type(sink) is not AmplitudeSink or not sink.fast_path:
            return None
        return sink

    # singer-sdk 0.54.9 Target._write_state_message (target_base.py:523): the only place to wait
    # for the batch in flight, flush the rejects file, de-duplicate and hold STATE under dry_run.
    def _write_state_message(self, state: dict) -> None:
        self.pipeline.wait()
        self.pipeline.rejects.flush()
        self.pipeline.progressed = False
        if self.pipeline.held_uploads:
            # A cohort's rows are uploaded when its stream ends: a STATE now would mark rows
            # done that Amplitude has not acknowledged. The last STATE follows the upload.
            return
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
            self.pipeline.wait()
        finally:
            self._finish()
        rejected = self.pipeline.stats.total_rejected
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
            self.pipeline.wait()
        finally:
            self._finish()

    def _finish(self) -> None:
        ctx = self.pipeline
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
