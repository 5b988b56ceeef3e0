"""TargetAmplitude: the Singer target's settings, run lifecycle and STATE handling."""

from __future__ import annotations

import copy
import logging
import sys
import typing as t
from collections import deque
from pathlib import Path

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
from target_amplitude.ledger import Ledger, LedgerConfig, LedgerError
from target_amplitude.pipeline import DeliveryMetrics, DeliveryPipeline
from target_amplitude.reader import InputLineError, LineCountingReader
from target_amplitude.rejects import RejectsWriter
from target_amplitude.settings import ConfigError, TargetSettings, target_settings
from target_amplitude.sinks import AmplitudeSink, EndpointSink
from target_amplitude.stats import RunStats
from target_amplitude.waking_input import LINGER_SECONDS

if t.TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.sinks import Sink


# The fast path checks the SDK's maximum record age once per this many records.
AGE_CHECK_EVERY = 1000

# What a held STATE waits for besides the batches handed off: each sink's records taken then.
Marks = tuple[tuple[EndpointSink, int], ...]


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
        # STATEs held until their records are done: (batches handed off, records each sink
        # held then, the STATE), oldest first.
        self._held_states: deque[tuple[int, Marks, dict]] = deque()
        self._since_age_check = 0
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
        self.pipeline.after_completion = self._emit_ready_states
        if isinstance(self.message_reader, LineCountingReader):
            self.message_reader.before_failing = self._deliver_before_failing
            self.message_reader.wake = (self.pipeline.signal, self)

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
        pipeline = DeliveryPipeline(
            settings,
            engine,
            RejectsWriter(settings.rejected_records_path),
            RunStats(),
            admin=admin,
        )
        # The sync ledger: opened (downloaded, locked) at the first SCHEMA that needs it.
        pipeline.ledger = Ledger(
            LedgerConfig(
                path=Path(settings.ledger_path),
                url=settings.ledger_url,
                api_key=settings.api_key,
                region=settings.data_region,
                full_resync=settings.full_resync,
                dry_run=settings.dry_run,
            )
        )
        return pipeline

    # -- Private SDK overrides (singer-sdk 0.54.9; guarded by tests/target/test_sdk_seams.py) --
    # Still private on meltano/sdk main 136de07; no public hook runs on STATE or before STATE.
    #
    # STATE: the SDK emits the latest STATE from drain_all(), once every sink has processed its
    # records. Here a sink's process_batch only hands its batch to the pipeline, so a STATE is
    # held until every record before it is done (_hold_state), and emitted as soon as a
    # completed batch makes it so: never ahead of the data, while the target keeps reading and
    # mapping. The SDK drains sinks only when full, at the end, or every 5 minutes, so once a
    # full batch has been completed, the next STATE drains the sinks that have not filled a
    # batch since the last such drain (a slow stream, a stream that ended): resumable
    # checkpoints about once per batch, without cutting the busy stream's batches short.
    # singer-sdk 0.54.9 Target._process_state_message (target_base.py:410): no "drain on STATE".
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        self._settle_states()
        latest = self._latest_state
        if latest is None:
            return
        if self.pipeline.progressed:
            self._drain_for_state(latest)
        else:
            self._hold_state(copy.deepcopy(latest))
            self._emit_ready_states()

    def _drain_for_state(self, latest: dict) -> None:
        """Hand off the batches of the sinks that would hold this STATE back longest."""
        with self.pipeline.cut_short():
            if self._sinks_to_clear:  # a stream's SCHEMA changed: the SDK's own full drain
                self.drain_all()
                return
            sinks = list(self._sinks_active.values())
            for sink in sinks:
                if not getattr(sink, "flowing", False):
                    self.drain_one(sink)  # skips an empty sink
            for sink in sinks:
                if isinstance(sink, EndpointSink):
                    sink.flowing = False
            self._write_state_message(copy.deepcopy(latest))

    # The reader's hooks while standard input is quiet (waking_input.InputHooks).
    def on_wake(self) -> None:
        """A batch was answered: complete it, emit the STATEs it frees."""
        self._settle_states()

    def on_idle(self) -> None:
        """No input for a while: hand off every batch held, so the STATEs can follow."""
        if not any(sink.current_size for sink in self._sinks_active.values()):
            return
        self.logger.info("No input for %.0f s: sending the records held.", LINGER_SECONDS)
        with self.pipeline.cut_short():
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
    # record counter (added up per batch), drain when full, the max-record-age drain (checked
    # every AGE_CHECK_EVERY records); anything else takes the SDK's path.
    # tests/target/test_fast_path.py: both paths give the same events, rejects and output;
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
        sink.uncounted += 1  # the record counter, added up per batch (process_batch)
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
        # The SDK checks the age of the oldest record (5 minutes) after every record; every
        # AGE_CHECK_EVERY records is as good and costs nothing.
        self._since_age_check += 1
        if self._since_age_check >= AGE_CHECK_EVERY:
            self._since_age_check = 0
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

    # singer-sdk 0.54.9 Target._write_state_message (target_base.py:523): called by drain_all()
    # once every sink has handed its batch off; the only place to hold the STATE until those
    # batches are completed, flush the rejects file first, de-duplicate, and hold STATE under
    # dry_run or while a cohort is not uploaded.
    def _write_state_message(self, state: dict) -> None:
        self.pipeline.progressed = False
        self._hold_state(state)
        self._emit_ready_states()

    def _hold_state(self, state: dict) -> None:
        """Keep a STATE until every batch handed off so far (and every record before it) is done.

        A STATE is bound to the batches handed off and the records each sink holds (not yet
        handed off) when it arrives; records read later never hold it back.
        """
        marks = tuple(
            (sink, sink.records_taken)
            for sink in (*self._sinks_to_clear, *self._sinks_active.values())
            if isinstance(sink, EndpointSink) and sink.current_size
        )
        held = self._held_states
        if held and held[-1][0] == self.pipeline.handed_off and held[-1][1] == marks:
            held[-1] = (self.pipeline.handed_off, marks, state)  # the same barrier: the latest
        else:
            held.append((self.pipeline.handed_off, marks, state))

    def _settle_states(self, *, block: bool = False) -> None:
        """Complete the answered batches (every one, if block), emitting the STATEs they free."""
        if block:
            self.pipeline.wait()
        else:
            self.pipeline.poll()
        self._emit_ready_states()

    def _emit_ready_states(self) -> None:
        """Emit the latest held STATE whose records are all done (after each completed batch)."""
        ready: dict | None = None
        held = self._held_states
        while held and self._state_done(held[0][0], held[0][1]):
            ready = held.popleft()[2]
        if ready is not None:
            self._emit_state(ready)

    def _state_done(self, handed_off: int, marks: Marks) -> bool:
        return self.pipeline.completed >= handed_off and all(
            sink.records_done >= taken for sink, taken in marks
        )

    def _emit_state(self, state: dict) -> None:
        self.pipeline.rejects.flush()
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
            if self.pipeline.ledger is not None:
                # What the STATE covers is in the ledger first (durable; uploaded when due).
                self.pipeline.ledger.checkpoint()
            super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        """Deliver everything, emit the last STATE, log the summary, apply fail_on_rejected."""
        try:
            super().process_endofpipe()
            if self.pipeline.ledger is not None:
                self.pipeline.ledger.finishing = True  # the last STATEs follow the upload
            self._settle_states(block=True)
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
            self._settle_states(block=True)
        finally:
            self._finish()

    def _finish(self) -> None:
        ctx = self.pipeline
        ctx.rejects.close()
        ctx.close()
        if ctx.ledger is not None:
            ctx.ledger.close()
        for line in ctx.stats.summary_lines(dry_run=self.settings.dry_run):
            self.logger.info(line)

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the CLI; known errors end the run with their message and exit code 1."""
        try:
            super().invoke(*args, **kwargs)
        except (
            ConfigError,
            DeliveryError,
            InputLineError,
            LedgerError,
            RejectedRecordsError,
        ) as exc:
            logging.getLogger(cls.name).error("%s: %s", type(exc).__name__, exc)
            sys.exit(1)
