"""Per-stream and per-endpoint counters, and the end-of-run summary lines (pure)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


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
            )
        lines.extend(f"Summary {note}" for note in self.notes)
        return lines
