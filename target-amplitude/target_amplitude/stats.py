"""A run's figures: per-stream and per-endpoint counters with the end-of-run summary lines, and
the SDK METRIC lines of delivery (DeliveryMetrics)."""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass, field

from singer_sdk import metrics
from typing_extensions import override

from target_amplitude.delivery import BatchResult

# User Privacy API docs: "Amplitude processes deletion requests without undue delay, within 30
# days after receiving the request" and "You can revoke requests in the batch until three (3)
# days before the day the job scheduled run date".
DELETION_NOTE = (
    "Amplitude deletes within 30 days of the request; revocable until 3 days before the job day"
)


@dataclass(slots=True)
class Counts:
    """in = accepted + rejected + skipped once a run is complete (pending: not yet sent)."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    requests: int = 0
    would_send: int = 0
    skipped: int = 0
    # The sync ledger: rows not sent because Amplitude already has them (in = accepted +
    # rejected + skipped + unchanged), and the dry run's preview of every row it consulted.
    unchanged: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0


@dataclass
class RunStats:
    """Counters keyed by stream and by endpoint."""

    streams: dict[str, Counts] = field(default_factory=dict)
    endpoints: dict[str, Counts] = field(default_factory=dict)
    # Deletion jobs Amplitude scheduled: (day, status, app) -> ids; and other end-of-run notes.
    jobs: dict[tuple[str, str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # touch_event: (stream, event type) -> [accepted, rejected, requests].
    touches: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(
        self,
        stream: str,
        endpoint: str | None,
        *,
        received: int = 0,
        accepted: int = 0,
        rejected: int = 0,
        retried: int = 0,
        requests: int = 0,
        would_send: int = 0,
        skipped: int = 0,
        unchanged: int = 0,
        new: int = 0,
        changed: int = 0,
        removed: int = 0,
    ) -> None:
        """Add figures to a stream's counts and, when given, to an endpoint's."""
        with self._lock:
            targets = [self.streams.setdefault(stream, Counts())]
            if endpoint is not None:
                targets.append(self.endpoints.setdefault(endpoint, Counts()))
            for counts in targets:
                counts.received += received
                counts.accepted += accepted
                counts.rejected += rejected
                counts.retried += retried
                counts.requests += requests
                counts.would_send += would_send
                counts.skipped += skipped
                counts.unchanged += unchanged
                counts.new += new
                counts.changed += changed
                counts.removed += removed

    def add_job(self, day: str, status: str, ids: int, app: object = None) -> None:
        """Ids a deletion request added to the job Amplitude scheduled for `day`."""
        key = (day, status, "" if app is None else str(app))
        with self._lock:
            self.jobs[key] = self.jobs.get(key, 0) + ids

    def add_touch(
        self, stream: str, event_type: str, *, accepted: int, rejected: int, requests: int
    ) -> None:
        """Touch events sent after a stream's profile updates were accepted."""
        with self._lock:
            counts = self.touches.setdefault((stream, event_type), [0, 0, 0])
            counts[0] += accepted
            counts[1] += rejected
            counts[2] += requests

    def note(self, line: str) -> None:
        """A line for the summary (a cohort's result)."""
        with self._lock:
            self.notes.append(line)

    @property
    def total_rejected(self) -> int:
        """Records rejected over all streams."""
        return sum(c.rejected for c in self.streams.values())

    def summary_lines(self, *, dry_run: bool) -> list[str]:
        """One line per stream and per endpoint.

        skipped= and unchanged= only when rows were; a dry run consulting the sync ledger adds
        its preview: new= changed= unchanged= removed=.
        """
        lines = []
        for kind, table in (("stream", self.streams), ("endpoint", self.endpoints)):
            for name, c in sorted(table.items()):
                sent = f"would_send={c.would_send}" if dry_run else f"accepted={c.accepted}"
                lines.append(
                    f"Summary {kind}={name} in={c.received} {sent} rejected={c.rejected} "
                    f"requests={c.requests} retried={c.retried}"
                    + (f" skipped={c.skipped}" if c.skipped else "")
                    + (
                        f" new={c.new} changed={c.changed} unchanged={c.unchanged} "
                        f"removed={c.removed}"
                        if dry_run and (c.new or c.changed or c.unchanged or c.removed)
                        else (f" unchanged={c.unchanged}" if c.unchanged else "")
                    )
                    + (f" removed={c.removed}" if c.removed and not dry_run else "")
                )
        for (day, status, app), ids in sorted(self.jobs.items()):
            lines.append(
                f"Summary deletion_job day={day} status={status} ids={ids}"
                + (f" app={app}" if app else "")
                + f" ({DELETION_NOTE})"
            )
        for (stream, event_type), (accepted, rejected, requests) in sorted(self.touches.items()):
            lines.append(
                f"Summary touch_event stream={stream} event_type={event_type} "
                f"accepted={accepted} rejected={rejected} requests={requests}"
            )
        lines.extend(f"Summary {note}" for note in self.notes)
        return lines


class HandOffTimer(metrics.Timer):
    """The SDK times process_batch, which only hands the batch off: that figure would mislead.

    The real delivery time is logged per batch by DeliveryMetrics (batch_processing_time).
    """

    @override
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
