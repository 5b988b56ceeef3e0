"""TargetAmplitude: the Singer target's settings, run lifecycle and STATE handling.

SDK_OVERRIDES: every singer-sdk member this package overrides, each marked ``@override``. They
were checked against the SDK version uv.lock pins; tests/target/test_sdk_seams.py fails, naming
the member, when an upgrade changes one. A private member only where no public seam does the job
(none does on the SDK's main branch either, as of this writing).

Private, with the reason:
- Target._process_state_message (TargetAmplitude): a STATE is held until its records are
  answered (checkpoint.py); no public hook runs on STATE.
- Target._write_state_message (TargetAmplitude): drain_all's STATE, held likewise; the one point
  after a full drain.
- Target._process_record_message (TargetAmplitude): the per-record fast path skips the SDK's
  steps that change nothing here; tests/target/test_fast_path.py guards that both paths agree.
- GenericSingerReader._process_unknown_message (reader.LineCountingReader): the SDK raises a
  bare ValueError; this names the input line.
- Sink._validate_and_parse (sinks.AmplitudeSink, admin_sinks.AdminSink): skips the per-field
  datetime parsing; mapping reads the strings.
- Sink._remove_sdc_metadata_from_record (sinks.AmplitudeSink): keeps _sdc_deleted_at (on_delete).

Public: Target.get_sink_class (admin objects' sinks), get_sink (the sinks a changed SCHEMA
replaced, cleaned up at the end), process_endofpipe (every answer, summary, fail_on_rejected),
invoke (known errors: a message, exit 1); GenericSingerReader.deserialize_json (msgspec) and
process_lines (its own loop: the waking standard input, RECORD lines handed to mapping workers,
a bad line named); Sink.get_sink_record_counter (tagged by endpoint), get_batch_processing_timer
(silent: delivery is timed per batch), get_validator (None: fastjsonschema in the sink),
max_size, process_record, BatchSink.process_batch, Sink.clean_up (once; the cohort upload),
Sink.activate_version (sync_mode mirror: the rows gone from a full snapshot);
metrics.Timer.__exit__ (stats.HandOffTimer).

Private SDK members read, not overridden (no public accessor): Target._latest_state,
_sinks_active and _sinks_to_clear (which sinks hold records when a STATE arrives),
Target._handle_max_record_age and Sink._singer_validate_message (the fast path runs them as the
SDK does); Sink._remove_sdc_metadata_from_record, called outside a sink by a mapping worker
(mapping_worker.py: it uses no state of its sink).
"""

from __future__ import annotations

import copy
import logging
import sys
import typing as t
from pathlib import Path

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import TargetCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.target_base import Target
from typing_extensions import override

from target_amplitude.admin_client import AdminClient
from target_amplitude.admin_delivery import AdminSender
from target_amplitude.admin_sinks import ADMIN_SINKS
from target_amplitude.checkpoint import Checkpoint
from target_amplitude.client import IngestClient
from target_amplitude.config_schema import CONFIG_SCHEMA
from target_amplitude.delivery import DeliveryEngine, DeliveryError, DeliveryRetryPolicy
from target_amplitude.gc_tuning import freeze_at_exit
from target_amplitude.ledger import Ledger, LedgerConfig, LedgerError
from target_amplitude.mapping_pipeline import MappingPipeline, Route
from target_amplitude.reader import InputLineError, LineCountingReader
from target_amplitude.rejects import RejectsWriter
from target_amplitude.settings import SettingsError, TargetSettings, target_settings
from target_amplitude.sinks import AmplitudeSink, EndpointSink, RunContext
from target_amplitude.stats import DeliveryMetrics, RunStats
from target_amplitude.waking_input import LINGER_SECONDS

if t.TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.sinks import Sink

    from target_amplitude.prepare import Prepared, RowTuple


# The fast path checks the SDK's maximum record age once per this many records.
AGE_CHECK_EVERY = 1000


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
        self._since_age_check = 0
        # stream -> (its active sink, that sink if the fast path may take its records)
        self._fast_sinks: dict[str, tuple[Sink, AmplitudeSink | None]] = {}
        self.max_parallelism = 1  # sinks drain one at a time; the engine owns concurrency
        # The SDK validated the config against CONFIG_SCHEMA and filled in its defaults; what is
        # left are the cross-field rules, failing fast the same way (no traceback, exit 1).
        try:
            self.settings: TargetSettings = target_settings(self.config)
        except SettingsError as exc:
            if kwargs.get("validate_config", True):
                raise ConfigValidationError(
                    "Config validation failed", errors=[str(exc)], schema=self.config_jsonschema
                ) from None
            raise
        self.run_context = self._build_run_context(self.settings)
        self._replaced_sinks: list[Sink] = []  # see get_sink
        self.checkpoint = self.run_context.checkpoint
        # Mapping workers (mapping_pipeline.py): records of the fast path's streams prepared
        # in other processes while this one takes them, for large runs.
        self.pipeline: MappingPipeline | None = None
        reader = self.message_reader
        if isinstance(reader, LineCountingReader):
            reader.before_failing = self._deliver_before_failing
            reader.wake = (self.checkpoint.signal, self)
            if self.settings.mapping_workers > 0:
                self.pipeline = MappingPipeline(
                    self.settings.mapping_workers,
                    self._take_prepared,
                    self._take_rows,
                    reader.take_line,
                )
                reader.pipeline = self.pipeline

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> Sink:
        """The SDK's sink for the stream; a sink a changed SCHEMA replaces is remembered, to be
        cleaned up at the end (process_endofpipe): the SDK drops it without its clean-up (its
        final record_count METRIC) when a drain before the end empties it."""
        sink = super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )
        if schema is not None:
            replaced = self._replaced_sinks
            for old in self._sinks_to_clear:
                if old is not sink and all(old is not known for known in replaced):
                    replaced.append(old)
        return sink

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """AmplitudeSink, or the sink of a user_mapping, deletion or cohort mapping."""
        mapping = self.settings.stream_mappings.get(stream_name)
        if mapping is not None and mapping.object in ADMIN_SINKS:
            return ADMIN_SINKS[mapping.object]
        return super().get_sink_class(stream_name)

    def _build_run_context(self, settings: TargetSettings) -> RunContext:
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
        rejects = RejectsWriter(settings.rejected_records_path)
        checkpoint = Checkpoint(
            engine,
            rejects,
            self._write_sdk_state,
            dry_run=settings.dry_run,
            logger=self.logger,
        )
        # The sync ledger: opened (downloaded, locked) at the first SCHEMA that needs it.
        ledger = Ledger(
            LedgerConfig(
                path=Path(settings.ledger_path),
                url=settings.ledger_url,
                api_key=settings.api_key,
                region=settings.data_region,
                full_resync=settings.full_resync,
                dry_run=settings.dry_run,
            )
        )
        return RunContext(
            settings, checkpoint, rejects, RunStats(), DeliveryMetrics(), admin, engine, ledger
        )

    # -- Private SDK overrides (see SDK_OVERRIDES above; guarded by tests/target/test_sdk_seams.py)

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        """Hold the STATE until its records are done (checkpoint), handing off partial batches."""
        super()._process_state_message(message_dict)
        checkpoint = self.checkpoint
        checkpoint.complete_answered()
        latest = self._latest_state
        if latest is None:
            return
        if not checkpoint.partial_batches_due:
            checkpoint.hold(copy.deepcopy(latest), self._endpoint_sinks())
        elif self._sinks_to_clear:  # a stream's SCHEMA changed: the SDK's own full drain
            with checkpoint.handing_off_early():
                self.drain_all()
        else:
            sinks = [s for s in self._sinks_active.values() if isinstance(s, EndpointSink)]
            checkpoint.hand_off_partial_batches(sinks, self.drain_one)  # skips an empty sink
            self._write_state_message(copy.deepcopy(latest))

    def _endpoint_sinks(self) -> list[EndpointSink]:
        """Every sink of the run, old and current (the SDK's registries: private, no accessor)."""
        sinks = (*self._sinks_to_clear, *self._sinks_active.values())
        return [sink for sink in sinks if isinstance(sink, EndpointSink)]

    # The reader's hooks while standard input is quiet (waking_input.InputHooks).
    def on_wake(self) -> None:
        """A batch was answered: complete it, emit the STATEs it frees."""
        self.checkpoint.complete_answered()

    def on_idle(self) -> None:
        """No input for a while: hand off every batch held, so the STATEs can follow."""
        if not any(sink.current_size for sink in self._sinks_active.values()):
            return
        self.logger.info("No input for %.0f s: sending the records held.", LINGER_SECONDS)
        with self.checkpoint.handing_off_early():
            self.drain_all()

    # Target._process_record_message: for every record it copies the record, runs the stream
    # map, asks the sink for a context, whether to add metadata, _validate_and_parse and
    # preprocess_record, and logs at debug level. For a stream
    # without stream maps or flattening, into an AmplitudeSink (whose context is empty and whose
    # _validate_and_parse and preprocess_record return the record as is), without debug logging,
    # all that is a few us per record for nothing. No public seam skips it (the SDK's
    # per-record hooks all run inside this method). The fast path runs the steps that do
    # something, in the SDK's order: the sink's (AmplitudeSink.take_unchanged), drain when full,
    # the max-record-age drain (checked every AGE_CHECK_EVERY records); anything else takes the
    # SDK's path.
    # tests/target/test_fast_path.py: both paths give the same events, rejects and output;
    # tests/target/test_sdk_seams.py checks that the SDK steps it mirrors are still there.
    @override
    def _process_record_message(self, message_dict: dict) -> None:
        sink = self._fast_path_sink(message_dict)
        if sink is None:
            record = message_dict.get("record")
            if record is not None and not isinstance(record, dict):
                # The SDK's path fails on it with an AttributeError and a traceback.
                msg = f"its record is {type(record).__name__}, not a JSON object"
                raise InvalidInputLine(msg)
            super()._process_record_message(message_dict)
            return
        line = getattr(self.message_reader, "line", None)
        sink.take_unchanged(message_dict["record"], line if isinstance(line, bytes) else None)
        self._after_fast_take(sink)
        if self.pipeline is not None:
            self.pipeline.fast_record_taken(sink.stream_name, sink)

    def _take_prepared(self, route: Route, outcome: Prepared, line: bytes, number: int) -> None:
        """A record a mapping worker prepared (mapping_pipeline.py): the fast path's steps,
        with the record's own (_sdc metadata removed, key properties checked, prepared) done
        by the worker."""
        reader = self.message_reader
        if isinstance(reader, LineCountingReader):
            reader.line_number = number
        sink = route.sink
        sink.tally_record_read()
        sink.take_prepared(outcome, line, None)
        sink.uncounted += 1
        self._after_fast_take(sink)

    def _take_rows(
        self, route: Route, rows: list[RowTuple], lines: list[bytes], numbers: t.Sequence[int]
    ) -> None:
        """A chunk of rows a mapping worker prepared, none rejected, skipped or SLOW: taken as
        _take_prepared takes each, the sink drained whenever one fills it."""
        sink = route.sink
        reader = self.message_reader
        start, end = 0, len(rows)
        while start < end:
            stop = sink.take_rows(rows, lines, start)
            count = stop - start
            if isinstance(reader, LineCountingReader):
                reader.line_number = numbers[stop - 1]
            sink.tally_record_read(count)
            sink.uncounted += count
            self._after_fast_take(sink, count)
            start = stop

    def _after_fast_take(self, sink: AmplitudeSink, records: int = 1) -> None:
        """The SDK's steps after a record: drain the sink when full, the record-age check."""
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
        # The SDK checks the age of the oldest record (5 minutes) after every record; every
        # AGE_CHECK_EVERY records is as good and costs nothing.
        self._since_age_check += records
        if self._since_age_check >= AGE_CHECK_EVERY:
            self._since_age_check = 0
            self._handle_max_record_age()

    def _fast_path_sink(self, message_dict: dict) -> AmplitudeSink | None:
        """The record's sink when the SDK's per-record steps would not change the record.

        Decided once per sink: a SCHEMA that changes the stream makes a new sink (the SDK's
        registry), which is decided again.
        """
        stream = message_dict.get("stream")
        if type(message_dict.get("record")) is not dict or not isinstance(stream, str):
            return None
        known = self._fast_sinks.get(stream)
        if known is not None and self._sinks_active.get(stream) is known[0]:
            return known[1]
        sink = self._decide_fast_path(stream)
        active = self._sinks_active.get(stream)
        if active is not None:
            self._fast_sinks[stream] = (active, sink)
        return sink

    def _decide_fast_path(self, stream: str) -> AmplitudeSink | None:
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

    @override
    def _write_state_message(self, state: dict) -> None:
        """Called by drain_all() once every sink has handed its batch off: hold the STATE."""
        self.checkpoint.hand_off_round_done(state, self._endpoint_sinks())

    def _write_sdk_state(self, state: dict) -> None:
        """The checkpoint's writer: the SDK's own STATE output, after the sync ledger's commit."""
        ledger = self.run_context.ledger
        if ledger is not None:
            # What the STATE covers is in the ledger first (durable; uploaded when due).
            ledger.checkpoint()
        super()._write_state_message(state)

    def _finishing(self) -> None:
        """The run's end: the ledger's next checkpoint uploads, so the last STATE follows it."""
        if self.run_context.ledger is not None:
            self.run_context.ledger.finishing = True

    @override
    def process_endofpipe(self) -> None:
        """Deliver everything, emit the last STATE, log the summary, apply fail_on_rejected."""
        try:
            super().process_endofpipe()
            for sink in self._replaced_sinks:  # once each (EndpointSink.clean_up)
                sink.clean_up()
            self._finishing()
            self.checkpoint.complete_all()
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
            self._finishing()
            self.checkpoint.complete_all()
        finally:
            self._finish()

    def _finish(self) -> None:
        ctx = self.run_context
        ctx.rejects.close()
        self.close()
        for line in ctx.stats.summary_lines(dry_run=self.settings.dry_run):
            self.logger.info(line)

    def close(self) -> None:
        """Stop the delivery threads and the admin client; log the METRIC counters' last figures."""
        ctx = self.run_context
        if self.pipeline is not None:
            self.pipeline.close()
        ctx.checkpoint.close()
        if ctx.ledger is not None:
            ctx.ledger.close()
        if ctx.admin is not None:
            ctx.admin.close()
        ctx.metrics.close()

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the CLI; known errors end the run with their message and exit code 1."""
        freeze_at_exit()  # no garbage collection of the whole heap at exit (gc_tuning.py)
        try:
            super().invoke(*args, **kwargs)
        except (
            SettingsError,
            DeliveryError,
            InputLineError,
            LedgerError,
            RejectedRecordsError,
        ) as exc:
            logging.getLogger(cls.name).error("%s: %s", type(exc).__name__, exc)
            sys.exit(1)
