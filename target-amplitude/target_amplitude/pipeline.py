"""The delivery pipeline: one batch delivered in the background while the next is mapped.

Batches are delivered one after the other (per-device order holds across batches); wait()
completes the batch in flight and the target waits before every STATE it emits. Every batch's
figures go to the summary (RunStats) and, from the same BatchResult, to SDK METRIC lines.
"""

from __future__ import annotations

import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from singer_sdk import metrics

from target_amplitude.admin_delivery import AdminSender
from target_amplitude.delivery import DeliveryEngine, Item, Outcome
from target_amplitude.endpoints import IngestEndpoint
from target_amplitude.rejects import RejectsWriter
from target_amplitude.settings import TargetSettings
from target_amplitude.stats import RunStats


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

    def count(self, stream: str, endpoint: str, *, accepted: int = 0, rejected: int = 0) -> None:
        """Records accepted or rejected (early rejects included)."""
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
        # A batch was completed since the last STATE (the target then drains on STATE).
        self.progressed = False
        self._dispatcher: ThreadPoolExecutor | None = None
        self._pending: tuple[Future[BatchResult], t.Callable[[BatchResult], None]] | None = None

    def submit(
        self,
        stream: str,
        endpoint: IngestEndpoint,
        items: list[Item],
        complete: t.Callable[[BatchResult], None],
    ) -> None:
        """Deliver items in the background after the previous batch completes."""
        self.wait()
        engine = self.engine
        assert engine is not None
        if self._dispatcher is None:
            self._dispatcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery")

        def deliver() -> BatchResult:
            started = time.perf_counter()
            outcome = engine.deliver(endpoint, items, stream=stream)
            return BatchResult(stream, endpoint, outcome, time.perf_counter() - started)

        self._pending = (self._dispatcher.submit(deliver), complete)

    def wait(self) -> None:
        """Complete the batch in flight, if any (raises what its delivery raised)."""
        if self._pending is None:
            return
        future, complete = self._pending
        self._pending = None
        result = future.result()
        complete(result)
        self.metrics.batch(result)

    def close(self) -> None:
        """Stop background threads (after wait()) and log the counters' last figures."""
        if self._dispatcher is not None:
            self._dispatcher.shutdown(wait=True)
            self._dispatcher = None
        if self.engine is not None:
            self.engine.close()
        if self.admin is not None:
            self.admin.close()
        self.metrics.close()
