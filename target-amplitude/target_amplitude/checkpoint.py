"""Which STATE the target may emit, and when: records handed off, answered, rejected, uploads.

The rule: a STATE is emitted only once every record read before it is done (accepted or rejected
by Amplitude, rejected or skipped here) and the rejected ones are written. The SDK would emit a
STATE as soon as every sink has processed its records; here a sink's process_batch only hands its
batch off (the delivery engine answers it in the background), so:

- Each batch handed off is counted, and completed in hand-off order in the target's own thread:
  `complete_answered` completes those Amplitude has answered, `complete_all` waits for all.
- A STATE arriving is held with what it waits for: the batches handed off so far, and for each
  stream the records read so far but still in a batch not handed off (`StreamRecords`). Records
  read later never hold it back.
- After every completed batch, the latest held STATE whose records are all done is emitted; the
  older ones it supersedes are dropped.
- None is emitted under dry_run (nothing was sent: a saved STATE would make the next real run
  skip these records), nor while a cohort's upload is pending (its rows are acknowledged when
  its stream ends; the last STATE follows the upload). The same STATE is never emitted twice.

Partial batches: the SDK hands a batch off when it is full, at the end, and every 5 minutes.
So that a STATE follows about once per batch without cutting the busy stream's batches short,
once a full batch has been completed (`partial_batches_due`), the next STATE hands off the
partial batches of the streams that have not filled a batch since the last such round
(`hand_off_partial_batches`). Batches handed off that way, or after a pause of the input, are
handed off early (`handing_off_early`): completing them does not call for another round.
"""

from __future__ import annotations

import contextlib
import logging
import typing as t
from collections import deque
from dataclasses import dataclass

from target_amplitude.delivery import BatchResult, DeliveryEngine, DeliveryTicket, Item
from target_amplitude.endpoints import IngestEndpoint
from target_amplitude.rejects import RejectsWriter
from target_amplitude.waking_input import CompletionSignal

# Batches handed to the engine at once: one being delivered and the next behind it in every
# lane's queue, so no lane waits for the mapper or for the slowest lane; the batch after them is
# mapped meanwhile. Memory: each batch holds its payloads and source lines (at most
# sinks.MAX_BATCH_BYTES).
BATCHES_IN_FLIGHT = 2


@dataclass(slots=True)
class StreamRecords:
    """One sink's records, as far as STATE goes."""

    handed_off: int = 0  # records handed off in batches (sent, or counted under dry_run)
    done: int = 0  # of those, the ones answered, rejected or skipped
    # A full batch of this stream was handed off or completed since the last round of partial
    # hand-offs: the next round spares this stream, whose batch is about to fill anyway.
    filled_batch: bool = False


class StreamSink(t.Protocol):
    """What the checkpoint reads of a sink (sinks.EndpointSink)."""

    records: StreamRecords

    @property
    def current_size(self) -> int:
        """Records in the batch not handed off yet."""
        ...

    @property
    def records_read(self) -> int:
        """Records read so far (handed off or in the current batch)."""
        ...


@dataclass(frozen=True, slots=True)
class _HeldState:
    state: dict
    batches: int  # batches handed off before it
    records: tuple[tuple[StreamRecords, int], ...]  # records read before it, per stream


@dataclass(slots=True)
class _Batch:
    ticket: DeliveryTicket
    stream: str
    endpoint: IngestEndpoint
    on_answered: t.Callable[[BatchResult], None]
    early: bool  # handed off before it was full


class Checkpoint:
    """Batches in flight and the STATEs held until their records are done."""

    def __init__(
        self,
        engine: DeliveryEngine | None,
        rejects: RejectsWriter,
        write_state: t.Callable[[dict], None],
        *,
        dry_run: bool,
        logger: logging.Logger,
    ) -> None:
        self._engine = engine
        self._rejects = rejects
        self._write_state = write_state
        self._dry_run = dry_run
        self._logger = logger
        self._in_flight: deque[_Batch] = deque()
        self._held: deque[_HeldState] = deque()
        self._last_emitted: dict | None = None
        self._early = False
        self.batches_handed_off = 0
        self.batches_completed = 0
        # A full batch was completed since the last round of partial hand-offs.
        self.partial_batches_due = False
        # Streams whose cohort is not uploaded yet: no STATE is emitted while any is.
        self.uploads_pending: set[str] = set()
        # Fired from the lanes as batches are answered (wakes the target's read of its input).
        self.signal = CompletionSignal()

    # -- Batches ---------------------------------------------------------------------------

    def hand_off(
        self,
        stream: str,
        endpoint: IngestEndpoint,
        items: list[Item],
        on_answered: t.Callable[[BatchResult], None],
    ) -> None:
        """Deliver items in the background; on_answered(result) runs here once all are answered.

        With BATCHES_IN_FLIGHT batches in flight, completes the oldest first.
        """
        engine = self._engine
        assert engine is not None
        self.complete_answered()
        while len(self._in_flight) >= BATCHES_IN_FLIGHT:
            self._complete_oldest()
        ticket = engine.start(endpoint, items, stream=stream, on_done=self.signal.notify)
        self._in_flight.append(_Batch(ticket, stream, endpoint, on_answered, early=self._early))
        self.batches_handed_off += 1

    def records_handed_off(self, records: StreamRecords, count: int) -> None:
        """A sink handed off a batch of `count` records (to the engine or, dry_run, nowhere)."""
        records.handed_off += count
        records.filled_batch = not self._early

    def batch_answered(self, records: StreamRecords, count: int, *, early: bool) -> None:
        """`count` records of a batch are done (the batch handed off early or not)."""
        records.done += count
        records.filled_batch = records.filled_batch or not early

    @staticmethod
    def records_kept(records: StreamRecords, count: int) -> None:
        """`count` records are done once kept (a cohort's rows: its pending upload holds STATE)."""
        records.handed_off += count
        records.done += count

    @property
    def early(self) -> bool:
        """Batches handed off now are not full (see handing_off_early)."""
        return self._early

    @contextlib.contextmanager
    def handing_off_early(self) -> t.Iterator[None]:
        """Batches handed off inside are not full: a round for STATE, or a pause of the input."""
        self._early = True
        try:
            yield
        finally:
            self._early = False

    def hand_off_partial_batches(
        self, sinks: t.Sequence[StreamSink], hand_off: t.Callable[[t.Any], None]
    ) -> None:
        """One round: hand off the batch of each stream that has not filled one since the last."""
        with self.handing_off_early():
            for sink in sinks:
                if not sink.records.filled_batch:
                    hand_off(sink)
        for sink in sinks:
            sink.records.filled_batch = False

    def complete_answered(self) -> None:
        """Complete the batches already answered, oldest first, emitting the STATEs they free
        (raises what a delivery raised)."""
        while self._in_flight and self._in_flight[0].ticket.done():
            self._complete_oldest()
        self.emit_ready()

    def complete_all(self) -> None:
        """Complete every batch in flight, emitting the STATEs they free (raises as above)."""
        while self._in_flight:
            self._complete_oldest()
        self.emit_ready()

    def _complete_oldest(self) -> None:
        batch = self._in_flight.popleft()
        outcome, seconds = batch.ticket.result()
        batch.on_answered(BatchResult(batch.stream, batch.endpoint, outcome, seconds))
        self.batches_completed += 1
        if not batch.early:
            self.partial_batches_due = True
        self.emit_ready()

    def full_batch_done(self) -> None:
        """A full batch was sent and answered before its sink returned (the admin objects)."""
        self.partial_batches_due = True

    # -- STATE -----------------------------------------------------------------------------

    def hold(self, state: dict, sinks: t.Iterable[StreamSink]) -> None:
        """Keep a STATE until every batch handed off so far, and every record read, is done.

        Then emit whatever STATE is ready. A STATE with the same wait as the last one held
        replaces it.
        """
        waits = tuple((sink.records, sink.records_read) for sink in sinks if sink.current_size)
        held = self._held
        if held and held[-1].batches == self.batches_handed_off and held[-1].records == waits:
            held[-1] = _HeldState(state, self.batches_handed_off, waits)
        else:
            held.append(_HeldState(state, self.batches_handed_off, waits))
        self.emit_ready()

    def hand_off_round_done(self, state: dict, sinks: t.Iterable[StreamSink]) -> None:
        """The SDK drained every sink (the end, a new SCHEMA, a round for STATE): hold `state`."""
        self.partial_batches_due = False
        self.hold(state, sinks)

    def emit_ready(self) -> None:
        """Emit the latest held STATE whose records are all done."""
        ready: dict | None = None
        held = self._held
        while held and self._is_done(held[0]):
            ready = held.popleft().state
        if ready is not None:
            self._emit(ready)

    def _is_done(self, held: _HeldState) -> bool:
        return self.batches_completed >= held.batches and all(
            records.done >= read for records, read in held.records
        )

    def _emit(self, state: dict) -> None:
        self._rejects.flush()
        if self.uploads_pending:
            return
        if self._dry_run:
            if self._last_emitted is None:
                self._logger.info("dry_run: STATE messages are not emitted (nothing was sent).")
                self._last_emitted = {}
            return
        if state != self._last_emitted:
            self._last_emitted = state
            self._write_state(state)

    def close(self) -> None:
        """Stop the engine's threads (after complete_all()) and the completion signal."""
        self._in_flight.clear()
        if self._engine is not None:
            self._engine.close()
        self.signal.close()
