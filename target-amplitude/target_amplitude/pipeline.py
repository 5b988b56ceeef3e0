"""The delivery pipeline: batches delivered in the background while the next ones are mapped.

Up to BATCHES_IN_FLIGHT batches are handed to the engine's lanes at once; each lane takes them
in hand-off order (per-device order holds across batches) and goes on to the next batch's items
without waiting for the other lanes. Batches are completed in hand-off order, in the target's
thread: poll() completes those already answered, wait() all of them. `completed` counts the
batches completed so far, so the target emits a STATE once every batch handed off before it is
(TargetAmplitude._settle_states). Every batch's figures go to the summary (RunStats) and, from
the same BatchResult, to SDK METRIC lines.
"""

from __future__ import annotations

import contextlib
import typing as t
from collections import deque
from dataclasses import dataclass, field

from singer_sdk import metrics

from target_amplitude.admin_delivery import AdminSender
from target_amplitude.delivery import DeliveryEngine, DeliveryTicket, Item, Outcome
from target_amplitude.endpoints import IngestEndpoint
from target_amplitude.ledger import Ledger
from target_amplitude.rejects import RejectsWriter
from target_amplitude.settings import TargetSettings
from target_amplitude.stats import RunStats
from target_amplitude.waking_input import CompletionSignal

# Batches handed to the lanes at once: one being delivered and the next behind it in every lane's
# queue, so no lane waits for the mapper or for the slowest lane; the batch after them is mapped
# meanwhile. Memory: each batch holds its payloads and source lines (at most MAX_BATCH_BYTES).
BATCHES_IN_FLIGHT = 2


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A delivered batch: its outcome and the seconds from hand-off to the last answer."""

    stream: str
    endpoint: IngestEndpoint
    outcome: Outcome
    seconds: float


class HandOffTimer(metrics.Timer):
    """The SDK times process_batch, which only hands the batch off: that figure would mislead.

    The real delivery time is logged per batch by DeliveryMetrics (batch_processing_time).
    """

    def __exit__(self, *_exc: object) -> None:
        """Log nothing."""


@dataclass
class DeliveryMetrics:
    """SDK METRIC lines for delivery, tagged by stream and endpoint (public singer_sdk.metrics).

    record_count{outcome=accepted|rejected}, http_request_count (and {outcome=retried}),
    batch_processing_time per batch (hand-off -> every item answered), http_request_duration
    per POST. Counters log every 60 s and when the run ends (close()).
    """

    _counters: dict[tuple[str, str, str, str], metrics.Counter] = field(default_factory=dict)

    def _counter(
        self, metric: metrics.Metric, stream: str, endpoint: str, outcome: str
    ) -> metrics.Counter:
        key = (metric.value, stream, endpoint, outcome)
        counter = self._counters.get(key)
        if counter is None:
            tags: dict[str, t.Any] = {metrics.Tag.STREAM: stream, metrics.Tag.ENDPOINT: endpoint}
            if outcome:
                tags["outcome"] = outcome
            counter = self._counters[key] = metrics.Counter(metric, tags)
        return counter

    def count(
        self,
        stream: str,
        endpoint: str,
        *,
        accepted: int = 0,
        rejected: int = 0,
        unchanged: int = 0,
    ) -> None:
        """Records accepted, rejected (early rejects included) or unchanged (the sync ledger)."""
        if unchanged:
            self._counter(metrics.Metric.RECORD_COUNT, stream, endpoint, "unchanged").increment(
                unchanged
            )
        if accepted:
            self._counter(metrics.Metric.RECORD_COUNT, stream, endpoint, "accepted").increment(
                accepted
            )
        if rejected:
            self._counter(metrics.Metric.RECORD_COUNT, stream, endpoint, "rejected").increment(
                rejected
            )

    def requests(self, stream: str, path: str, requests: int, retried: int) -> None:
        """Requests sent (and retried) for a stream to an endpoint."""
        if requests:
            self._counter(metrics.Metric.HTTP_REQUEST_COUNT, stream, path, "").increment(requests)
        if retried:
            self._counter(metrics.Metric.HTTP_REQUEST_COUNT, stream, path, "retried").increment(
                retried
            )

    def batch(self, result: BatchResult) -> None:
        """A delivered batch's requests, retries and delivery time."""
        stream, path = result.stream, result.endpoint.path
        outcome = result.outcome
        self.requests(stream, path, outcome.requests, outcome.retried)
        self.batch_time(stream, path, result.seconds)

    @staticmethod
    def batch_time(stream: str, path: str, seconds: float) -> None:
        """batch_processing_time of one delivered batch (hand-off -> every record answered)."""
        metrics.log(
            metrics.get_metrics_logger(),
            metrics.Point(
                "timer",
                metrics.Metric.BATCH_PROCESSING_TIME,
                seconds,
                {
                    metrics.Tag.STREAM: stream,
                    metrics.Tag.ENDPOINT: path,
                    metrics.Tag.STATUS: "succeeded",
                },
            ),
        )

    @staticmethod
    def request(stream: str, endpoint: str, status: int | None, seconds: float) -> None:
        """One POST (called from the lane threads; logging is thread-safe)."""
        metrics.log(
            metrics.get_metrics_logger(),
            metrics.Point(
                "timer",
                metrics.Metric.HTTP_REQUEST_DURATION,
                seconds,
                {
                    metrics.Tag.STREAM: stream,
                    metrics.Tag.ENDPOINT: endpoint,
                    metrics.Tag.HTTP_STATUS_CODE: status,
                    metrics.Tag.STATUS: "succeeded"
                    if status is not None and status < 500
                    else "failed",
                },
            ),
        )

    def close(self) -> None:
        """Log every counter's last figures."""
        for counter in self._counters.values():
            counter.exit()
        self._counters.clear()


@dataclass(slots=True)
class _InFlight:
    ticket: DeliveryTicket
    stream: str
    endpoint: IngestEndpoint
    complete: t.Callable[[BatchResult], None]
    # Handed off before it was full (a drain on STATE, a pause of the input): its completion
    # does not call for another drain on STATE (TargetAmplitude._process_state_message).
    cut_short: bool


class DeliveryPipeline:
    """What every sink of one run shares: settings, engine, rejects file, figures."""

    def __init__(
        self,
        settings: TargetSettings,
        engine: DeliveryEngine | None,
        rejects: RejectsWriter,
        stats: RunStats,
        metrics_: DeliveryMetrics | None = None,
        *,
        admin: AdminSender | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.rejects = rejects
        self.stats = stats
        self.metrics = metrics_ or DeliveryMetrics()
        # user_mapping, deletion, cohort requests; streams whose cohort is not uploaded yet
        # (the target holds STATE while any is).
        self.admin = admin
        self.held_uploads: set[str] = set()
        # The sync ledger (docs/ledger.md): sinks consult it and record what was acknowledged;
        # the target commits it before each STATE (None: tests building a pipeline by hand).
        self.ledger: Ledger | None = None
        # A full batch was completed since the last drain on STATE.
        self.progressed = False
        # True while the target hands off batches before they are full (see cutting_short).
        self.cutting_short = False
        self.handed_off = 0  # batches handed to the engine so far
        self.completed = 0  # ... and completed (in hand-off order)
        self._in_flight: deque[_InFlight] = deque()
        # Called after each completed batch (the target emits the STATEs it frees).
        self.after_completion: t.Callable[[], None] | None = None
        # Fired from the lanes as batches are answered (wakes the target's read of its input).
        self.signal = CompletionSignal()

    def submit(
        self,
        stream: str,
        endpoint: IngestEndpoint,
        items: list[Item],
        complete: t.Callable[[BatchResult], None],
    ) -> None:
        """Deliver items in the background; complete(result) runs here once they are answered.

        With BATCHES_IN_FLIGHT batches in flight, waits for the oldest first.
        """
        engine = self.engine
        assert engine is not None
        self.poll()
        while len(self._in_flight) >= BATCHES_IN_FLIGHT:
            self._complete_oldest()
        ticket = engine.start(endpoint, items, stream=stream, on_done=self.signal.notify)
        self._in_flight.append(
            _InFlight(ticket, stream, endpoint, complete, cut_short=self.cutting_short)
        )
        self.handed_off += 1

    @contextlib.contextmanager
    def cut_short(self) -> t.Iterator[None]:
        """Batches handed off inside are not full: the sinks' drains on STATE or after a pause."""
        self.cutting_short = True
        try:
            yield
        finally:
            self.cutting_short = False

    def poll(self) -> None:
        """Complete the batches already answered, oldest first (raises what a delivery raised)."""
        while self._in_flight and self._in_flight[0].ticket.done():
            self._complete_oldest()

    def wait(self) -> None:
        """Complete every batch in flight (raises what a delivery raised)."""
        while self._in_flight:
            self._complete_oldest()

    def _complete_oldest(self) -> None:
        entry = self._in_flight.popleft()
        outcome, seconds = entry.ticket.result()
        result = BatchResult(entry.stream, entry.endpoint, outcome, seconds)
        entry.complete(result)
        self.completed += 1
        if not entry.cut_short:
            self.progressed = True
        self.metrics.batch(result)
        if self.after_completion is not None:
            self.after_completion()

    def close(self) -> None:
        """Stop background threads (after wait()) and log the counters' last figures."""
        self._in_flight.clear()
        if self.engine is not None:
            self.engine.close()
        self.signal.close()
        if self.admin is not None:
            self.admin.close()
        self.metrics.close()
