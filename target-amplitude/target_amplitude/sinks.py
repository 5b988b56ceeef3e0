"""The SDK sinks: map and validate each record, hand full batches off through the checkpoint."""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import msgspec
from singer_sdk import metrics
from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_amplitude.checkpoint import Checkpoint, StreamRecords
from target_amplitude.client import quote_item
from target_amplitude.delivery import BatchResult, DeliveryEngine, DeliveryError, Item, LaneFill
from target_amplitude.endpoints import GROUPIDENTIFY, IDENTIFY, IngestEndpoint, events_endpoint
from target_amplitude.ledger_rows import LedgerRows
from target_amplitude.mapping import ENCODER
from target_amplitude.prepare import (
    REJECT,
    ROW,
    Prepared,
    RecordPlan,
    RowTuple,
    lane_key_and_weight,
    sent_size,
)
from target_amplitude.settings import (
    SettingsError,
    StreamMapping,
    TargetSettings,
    looks_like_events,
    missing_mapping_message,
    passthrough_mapping,
)
from target_amplitude.stats import HandOffTimer
from target_amplitude.touch import encode as encode_touch
from target_amplitude.touch import touch_events

if t.TYPE_CHECKING:
    from singer_sdk.sinks.core import BaseJSONSchemaValidator
    from singer_sdk.target_base import Target

    from target_amplitude.admin_delivery import AdminSender
    from target_amplitude.admin_sinks import CohortSink
    from target_amplitude.ledger import Ledger
    from target_amplitude.rejects import RejectsWriter
    from target_amplitude.stats import DeliveryMetrics, RunStats

# A batch is also full at this many bytes (payloads plus the source records kept for the rejected
# file), whatever its row count: memory stays bounded for records of any size.
MAX_BATCH_BYTES = 48_000_000
# The sync ledger decides up to this many rows at once (LedgerRows.decide: one read of the file
# for them all), and at most as many as every delivery lane still has room for. On a kept ledger
# most reads look for the few keys its filter cannot answer, and each read lets the delivery
# threads take Python's lock: 300,000 new events on a ledger holding 300,000 keys read 5,500
# keys in 830 reads taking 0.50-0.62 s of the target's thread with 500 rows at once, in 560
# reads taking 0.23-0.29 s with 2,000 (2026-12-08; the lanes' room bounds most decisions).
DECIDE_ROWS = 2_000
# What a batch keeps of a row until it is handed off: its source (the input line, or the record
# encoded) for the rejected file, its ordering key, user_id, device_id, group property count and
# its payloads as sent.
Row = tuple[bytes | msgspec.Raw, str, t.Any, t.Any, int, tuple[bytes, ...]]


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every sink of one run shares (TargetAmplitude.run_context)."""

    settings: TargetSettings
    checkpoint: Checkpoint
    rejects: RejectsWriter
    stats: RunStats
    metrics: DeliveryMetrics
    # user_mapping, deletion and cohort requests (None when no stream maps to one).
    admin: AdminSender | None = None
    # The delivery engine, for a sink's own synchronous requests (touch_event); None: dry_run.
    engine: DeliveryEngine | None = None
    # The sync ledger (docs/ledger.md): sinks consult it and record what was acknowledged; the
    # target commits it before each STATE (None: tests building a run context by hand).
    ledger: Ledger | None = None
    # Each cohort stream's latest sink (a changed SCHEMA makes a new one, which takes over the
    # members read so far: admin_sinks.CohortSink).
    cohorts: dict[str, CohortSink] = field(default_factory=dict)


def resolve_mapping(
    settings: TargetSettings, stream: str, schema: t.Mapping[str, t.Any]
) -> StreamMapping:
    """The stream's mapping, checked against its SCHEMA; SettingsError names what to fix."""
    mapping = settings.stream_mappings.get(stream)
    if mapping is None:
        if looks_like_events(schema):
            return passthrough_mapping(stream)
        raise SettingsError(missing_mapping_message(stream, schema))
    if mapping.passthrough and not looks_like_events(schema):
        msg = (
            f"stream_mappings.{stream} has only 'object: event' (and sync_mode), which loads a "
            "stream that is already shaped as Amplitude events, but its SCHEMA has no event_type "
            "with user_id or device_id. Nothing was sent. Map its fields: set event_type or "
            "event_type_field, and user_id_field or device_id_field (docs/mapping.md)."
        )
        raise SettingsError(msg)
    props = schema.get("properties") or {}
    if props and not schema.get("additionalProperties"):
        for field_name in sorted(mapping.used_fields()):
            if field_name not in props:
                msg = (
                    f"stream_mappings.{stream}: field '{field_name}' is not in the stream's "
                    f"SCHEMA (fields: {', '.join(props)})."
                )
                raise SettingsError(msg)
    return mapping


def endpoint_for(settings: TargetSettings, mapping: StreamMapping) -> IngestEndpoint:
    """Where a mapping's payloads go."""
    if mapping.object == "event":
        return events_endpoint(settings.events_endpoint)
    return GROUPIDENTIFY if mapping.object == "group" else IDENTIFY


class HasPath(t.Protocol):
    """What the shared hooks need of an endpoint."""

    @property
    def path(self) -> str: ...


class EndpointSink(BatchSink):
    """The public SDK hooks every sink of this target shares (ingestion and admin objects)."""

    endpoint: HasPath  # IngestEndpoint or AdminEndpoint
    # Records handed off and done, as far as STATE goes (checkpoint.Checkpoint.hold).
    records: StreamRecords
    _received = 0  # records taken into the current batch

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """The SDK's sink, with its records counted for the checkpoint."""
        self.records = StreamRecords()
        self._cleaned_up = False
        super().__init__(target, stream_name, schema, key_properties)

    @override
    def clean_up(self) -> None:
        """The SDK's clean-up (its final record_count METRIC), once: TargetAmplitude also
        cleans up at the end the sinks a changed SCHEMA replaced, which the SDK drops without it
        when a drain before the end empties them."""
        if self._cleaned_up:
            return
        self._cleaned_up = True
        super().clean_up()

    @property
    def records_read(self) -> int:
        """Records this sink has taken so far (handed off or in the current batch)."""
        return self.records.handed_off + self._received

    # Metrics (public hooks, singer-sdk 0.51+): records in, tagged with the endpoint too; the
    # SDK's batch timer would time only the hand-off to the pipeline, so it logs nothing and the
    # pipeline logs the real delivery time per batch (DeliveryMetrics).
    @override
    def get_sink_record_counter(self) -> metrics.Counter:
        """record_count{stream, endpoint}: records received by this sink."""
        return metrics.record_counter(self.stream_name, endpoint=self.endpoint.path)

    @override
    def get_batch_processing_timer(self) -> metrics.Timer:
        """A timer that logs nothing (see pipeline.HandOffTimer)."""
        return HandOffTimer(
            metrics.Metric.BATCH_PROCESSING_TIME, {metrics.Tag.STREAM: self.stream_name}
        )

    # The SDK's jsonschema validation is most of a target's CPU time: records are checked in
    # process_record instead (fastjsonschema, when the public `validate_schema` is on), and a
    # mismatch is a rejected record, not a crash or a record passed on regardless.
    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """Disable the SDK's validator (see process_record)."""
        return None

    def record_outcome(
        self,
        run: RunContext,
        endpoint_name: str,
        *,
        received: int,
        accepted: int,
        rejected: int,
        **figures: int,
    ) -> None:
        """A delivered batch: rejects flushed, the METRIC counts and the summary updated."""
        run.rejects.flush()
        run.metrics.count(
            self.stream_name,
            self.endpoint.path,
            accepted=accepted,
            rejected=rejected,
            unchanged=figures.get("unchanged", 0),
        )
        run.stats.add(
            self.stream_name,
            endpoint_name,
            received=received,
            accepted=accepted,
            rejected=rejected,
            **figures,
        )


class AmplitudeSink(EndpointSink):
    """One incoming stream -> events, user/device identifies or group identifies."""

    endpoint: IngestEndpoint

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self._run: RunContext = target.run_context  # type: ignore[attr-defined]
        self._owner = target  # drains this sink when removals (mirror) fill a batch
        settings = self._run.settings
        # Fails at the SCHEMA message, before any record of this stream is read.
        self.mapping = resolve_mapping(settings, stream_name, schema)
        self.endpoint = endpoint_for(settings, self.mapping)
        super().__init__(target, stream_name, schema, key_properties)
        self._keys = tuple(key_properties or ())
        # The sync ledger's view of this stream (None: sync_mode all, or no ledger).
        self._ledger = LedgerRows.for_sink(self._run, stream_name, self.mapping)
        self.plan = RecordPlan(
            self.mapping,
            self.endpoint,
            self._keys,
            schema if self.validate_schema else None,
            min_id_length=settings.min_id_length,
            skip_user_properties_sync=settings.skip_user_properties_sync,
            ledger=self._ledger is not None,
            hashed=self._ledger is not None and self._ledger.hashed,
            mirror=self._ledger is not None and self._ledger.mirror,
        )
        # Rows mapped and waiting for the ledger's verdict (take), and how many may wait.
        self._offered: list[Row] = []
        # Source records of the batch, kept only as JSON for the rejected file: a decoded record
        # is ~10x its JSON in memory, and dicts kept alive slow every GC pass. Either its input
        # line (bytes, see take) or the record encoded (msgspec.Raw).
        self._records: list[bytes | msgspec.Raw] = []
        self._items: list[Item] = []
        self._bytes = 0
        self._received = 0
        self._rejected_early = 0
        self._skipped = 0
        self._max_rows = self.max_size
        # Records the target's fast path took and has not added to the SDK's record counter yet.
        self.uncounted = 0
        # The batch is also full once one delivery lane holds a full request.
        self._lanes = LaneFill(settings.max_concurrent_requests, self.endpoint)
        self._offer_room = self._room_to_offer()
        # The target's fast path may skip the SDK's per-record steps for this sink only when
        # they leave records unchanged (no metadata added, the SDK's hooks as they are here) and
        # log nothing (_after_process_record logs each record at debug level).
        self.fast_path = (
            not self.include_sdc_metadata_properties
            and not self.logger.isEnabledFor(logging.DEBUG)
            and type(self).preprocess_record is BatchSink.preprocess_record
            and type(self)._get_context is BatchSink._get_context
        )

    @property
    @override
    def max_size(self) -> int:
        """Rows per batch: enough to keep every lane busy with full requests."""
        if self.batch_size_rows is not None:
            return self.batch_size_rows
        return self._run.settings.max_concurrent_requests * self.endpoint.max_count

    @property
    @override
    def is_full(self) -> bool:
        """Full by rows, by bytes kept, or because one lane holds a full request."""
        return (
            self._received >= self._max_rows or self._lanes.full or self._bytes >= MAX_BATCH_BYTES
        )

    # -- Private SDK overrides (target.py's SDK_OVERRIDES; tests/target/test_sdk_seams.py) --

    # Sink._validate_and_parse: after the (disabled)
    # validator it parses every date-time field into a datetime (_parse_timestamps_in_record);
    # no public switch turns that off. Mapping reads the strings directly, so skip it.
    @override
    def _validate_and_parse(self, record: dict) -> dict:
        """Skip the SDK's per-field datetime parsing: mapping reads the strings directly."""
        return record

    # Sink._remove_sdc_metadata_from_record: without
    # add_record_metadata the SDK strips every `_sdc_*` field, `_sdc_deleted_at` included, and no
    # public seam keeps one. A log-based tap's delete marker drives on_delete, so it is kept.
    @override
    def _remove_sdc_metadata_from_record(self, record: dict) -> None:
        deleted_at = record.get("_sdc_deleted_at")
        super()._remove_sdc_metadata_from_record(record)
        if deleted_at is not None:
            record["_sdc_deleted_at"] = deleted_at

    def _reject(self, record: dict, payload: t.Any, reason: str) -> None:
        self._run.rejects.write(
            stream=self.stream_name,
            record=record,
            payload=payload,
            reason=reason,
            endpoint=self.endpoint.path,
            key_properties=self._keys,
        )
        self._rejected_early += 1

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """Map and validate one record; a bad record is written as rejected, never raised."""
        self.take(record, None)

    def take_unchanged(self, record: dict, line: bytes | None) -> None:
        """The SDK's per-record steps that do something here, in its order (the target's fast
        path, TargetAmplitude._process_record_message): _sdc metadata removed, key properties
        checked, the record tallied and taken, the record counter added up per batch."""
        self._remove_sdc_metadata_from_record(record)
        self._singer_validate_message(record)
        self.tally_record_read()
        self.take(record, line)
        self.uncounted += 1

    def take(self, record: dict, line: bytes | None) -> None:
        """process_record; `line`: the input line of a record the SDK passed on unchanged.

        Given the line (the target's fast path, TargetAmplitude._process_record_message), the
        sink keeps it instead of encoding the record again; should the record be rejected after
        delivery, it is read back from the line exactly as the SDK handed it over
        (_source_record).
        """
        self.take_prepared(self.plan.prepare(record), line, record)

    def take_prepared(self, outcome: Prepared, line: bytes | None, record: dict | None) -> None:
        """A record's outcome (prepare.RecordPlan.prepare, here or in a mapping worker) taken
        into the batch, the ledger or the rejected file. `record` may be None when `line` is
        given (a mapping worker's row: the record is decoded again only to be rejected)."""
        kind = outcome[0]
        if kind == ROW:
            source: bytes | msgspec.Raw = (
                line if line is not None else msgspec.Raw(ENCODER.encode(record))
            )
            self.take_rows((t.cast("RowTuple", outcome),), (source,), 0)
            return
        self._received += 1
        if kind == REJECT:
            if record is None:
                record = self._source_record(t.cast("bytes", line))
            self._reject(record, outcome[2], outcome[1])
        else:
            self._skipped += 1

    def take_rows(
        self,
        rows: t.Sequence[RowTuple],
        sources: t.Sequence[bytes | msgspec.Raw],
        start: int,
    ) -> int:
        """ROW outcomes (prepare.py) from `start` on, with their sources (the input line, or the
        record encoded), up to the one that makes the batch full (the target drains it then,
        as after any record). The index after the last row taken.

        The sync ledger decides up to DECIDE_ROWS rows at once (one read); those to send join the
        batch then, in their order. At most as many wait as every lane still has room for, so
        no lane's request overflows while they wait."""
        ledger = self._ledger
        end = len(rows)
        index = start
        if ledger is None:
            while index < end:
                _, ordering_key, user_id, device_id, weight, wires, _ = rows[index]
                self._add_row(
                    (sources[index], ordering_key, user_id, device_id, weight, tuple(wires))
                )
                index += 1
                self._received += 1
                if self.is_full:
                    break
            return index
        # Until the ledger decides, rows only wait: the batch is full by its row count alone
        # (its bytes and lanes grow as rows join it), so rows are offered a slice at a time.
        while index < end:
            offered = self._offered
            stop = index + max(
                1,
                min(
                    end - index,
                    self._offer_room - len(offered),
                    self._max_rows - self._received,
                ),
            )
            chunk = rows[index:stop]
            offered += [
                (source, ordering_key, user_id, device_id, weight, tuple(wires))
                for source, (_, ordering_key, user_id, device_id, weight, wires, _) in zip(
                    sources[index:stop], chunk, strict=True
                )
            ]
            ledger.offer_many([row[6] for row in chunk])
            self._received += stop - index
            index = stop
            if len(offered) >= self._offer_room:
                self._decide_offered()
            if self.is_full:
                break
        return index

    def _decide_offered(self) -> None:
        """The ledger's verdict on the rows offered: those to send join the batch."""
        offered, self._offered = self._offered, []
        ledger = self._ledger
        if ledger is not None and offered:
            sends = ledger.decide(len(self._records))
            add_row = self._add_row
            if all(sends):
                for row in offered:
                    add_row(row)
            else:
                for row, send in zip(offered, sends, strict=True):
                    if send:
                        add_row(row)
        self._offer_room = self._room_to_offer()

    def _room_to_offer(self) -> int:
        """Rows that may wait for the ledger's next decision: DECIDE_ROWS, or fewer when a
        delivery lane has less room left (at least one)."""
        return max(1, min(DECIDE_ROWS, self._lanes.room))

    def _add_row(self, row: Row) -> None:
        source, key, user_id, device_id, weight, wires = row
        ref = len(self._records)
        endpoint, items, lanes = self.endpoint, self._items, self._lanes
        size = len(source)
        for wire in wires:
            lanes.add(key, sent_size(endpoint, wire))
            items.append(Item(ref, key, wire, user_id, device_id, weight))
            size += len(wire)
        self._records.append(source)
        self._bytes += size

    @override
    def activate_version(self, new_version: int) -> None:
        """sync_mode mirror: rows gone from the full snapshot that just ended are unset.

        Their unset payloads join the batch like any row; once Amplitude acknowledges them the
        ledger forgets their keys. Other sync modes ignore ACTIVATE_VERSION (nothing to do).
        """
        if self._ledger is None:
            return
        self._decide_offered()  # the snapshot's rows so far
        removals = self._ledger.snapshot_marker(new_version)
        for key, payload in removals:
            wire = ENCODER.encode(payload)
            self._received += 1
            self._ledger.take_removal(len(self._records), key)
            lane_key, weight = lane_key_and_weight(self.mapping.object, payload)
            source = msgspec.Raw(ENCODER.encode({"ledger_removed": key}))
            row: Row = (
                source,
                lane_key,
                payload.get("user_id"),
                payload.get("device_id"),
                weight,
                (wire,),
            )
            self._add_row(row)
            if self.is_full:
                self._target_drain()
        if removals:
            self.logger.info(
                "%s: %d row(s) gone from the snapshot: their mapped properties are unset.",
                self.stream_name,
                len(removals),
            )

    def _target_drain(self) -> None:
        drain = getattr(self._owner, "drain_one", None)
        if drain is not None:
            drain(self)

    def _source_record(self, kept: bytes | msgspec.Raw) -> t.Any:
        """The record as process_record got it, from what take kept."""
        if isinstance(kept, msgspec.Raw):
            return kept
        record = msgspec.json.decode(kept)["record"]
        self._remove_sdc_metadata_from_record(record)
        return record

    def _payload_of(self, item: Item) -> t.Any:
        wire = unquote_to_bytes(item.wire) if self.endpoint.form else item.wire
        return msgspec.json.decode(wire)

    @override
    def process_batch(self, context: dict) -> None:
        """Hand the batch off; a STATE after its records waits for their answers (checkpoint)."""
        if self.uncounted:
            self.record_counter_metric.increment(self.uncounted)
            self.uncounted = 0
        self._decide_offered()
        items, records = self._items, self._records
        received, rejected_early = self._received, self._rejected_early
        skipped = self._skipped
        self._items, self._records, self._bytes = [], [], 0
        self._received = self._rejected_early = self._skipped = 0
        self._lanes.clear()
        self._offer_room = self._room_to_offer()
        rows = self._ledger.cut() if self._ledger is not None else None
        if self.endpoint.form and not self._run.settings.dry_run:
            for item in items:  # as they go in a form body (see prepare.sent_size)
                item.wire = quote_item(item.wire)
        run = self._run
        checkpoint = run.checkpoint
        early = checkpoint.early
        checkpoint.records_handed_off(self.records, received)
        name = self.endpoint.name
        if run.settings.dry_run:
            checkpoint.batch_answered(self.records, received, early=early)
            run.stats.add(
                self.stream_name,
                name,
                received=received,
                rejected=rejected_early,
                would_send=len(records),
                skipped=skipped,
                **(rows.preview() if rows is not None else {}),
            )
            run.rejects.flush()
            run.metrics.count(
                self.stream_name,
                self.endpoint.path,
                rejected=rejected_early,
                unchanged=rows.unchanged if rows is not None else 0,
            )
            checkpoint.full_batch_done()
            return

        def answered(result: BatchResult) -> None:
            self._complete(
                result,
                items,
                records,
                received,
                rejected_early=rejected_early,
                skipped=skipped,
                rows=rows,
            )
            checkpoint.batch_answered(self.records, received, early=early)
            run.metrics.batch(result)

        checkpoint.hand_off(self.stream_name, self.endpoint, items, answered)

    def _complete(
        self,
        result: BatchResult,
        items: list[Item],
        records: list[bytes | msgspec.Raw],
        received: int,
        *,
        rejected_early: int,
        skipped: int,
        rows: LedgerRows.Batch | None = None,
    ) -> None:
        """Record a delivered batch: rejects, the ledger's acknowledged rows, the figures.

        A record can be more than one item (`$clearAll`, then its values): it is accepted when
        all its items are, else rejected with the first reason.
        """
        run = self._run
        outcome = result.outcome
        if outcome.accepted + len(outcome.rejected) != len(items):
            msg = (
                f"{self.stream_name}: {len(items)} payloads, but only {outcome.accepted} accepted "
                f"and {len(outcome.rejected)} rejected; stopping before STATE moves past them."
            )
            raise DeliveryError(msg)
        payload_item: dict[int, Item] = {}
        for item in items:
            payload_item[item.ref] = item  # the last item of a record holds its values
        reasons: dict[int, str] = {}
        for ref, reason in outcome.rejected:
            reasons.setdefault(ref, reason)
        for ref, reason in reasons.items():
            run.rejects.write(
                stream=self.stream_name,
                record=self._source_record(records[ref]),
                payload=self._payload_of(payload_item[ref]),
                reason=reason,
                endpoint=self.endpoint.path,
                retryable=ref in outcome.retryable,
                key_properties=self._keys,
            )
        if self.mapping.touch_event is not None:
            self._touch([payload_item[ref] for ref in payload_item if ref not in reasons])
        if rows is not None:
            rows.answered(reasons)  # every row not rejected was acknowledged
        self.record_outcome(
            run,
            self.endpoint.name,
            received=received,
            accepted=len(records) - len(reasons),
            rejected=rejected_early + len(reasons),
            retried=outcome.retried,
            requests=outcome.requests,
            skipped=skipped,
            unchanged=rows.unchanged if rows is not None else 0,
            removed=rows.removed(reasons) if rows is not None else 0,
        )

    def _touch(self, accepted: list[Item]) -> None:
        """touch_event: one event per updated id, sent once the updates are accepted (before
        the batch counts as done, so STATE follows the touches too)."""
        run = self._run
        events = touch_events(self.mapping, accepted, self.stream_name)
        if not events or run.engine is None:
            return
        endpoint = events_endpoint(run.settings.events_endpoint)
        items = [
            Item(
                ref=index,
                key=str(event.get("device_id") or event.get("user_id")),
                wire=encode_touch(event),
                user_id=event.get("user_id"),
                device_id=event.get("device_id"),
            )
            for index, event in enumerate(events)
        ]
        outcome = run.engine.deliver(endpoint, items, stream=self.stream_name)
        name = t.cast("str", self.mapping.touch_event)
        if outcome.rejected:
            self.logger.warning(
                "%s: Amplitude refused %d touch event(s) %r (the profile updates themselves "
                "were accepted): %s",
                self.stream_name,
                len(outcome.rejected),
                name,
                outcome.rejected[0][1],
            )
        run.stats.add_touch(
            self.stream_name,
            name,
            accepted=outcome.accepted,
            rejected=len(outcome.rejected),
            requests=outcome.requests,
        )
