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


@dataclass
class RunStats:
    """Counters keyed by stream and by endpoint."""

    streams: dict[str, Counts] = field(default_factory=dict)
    endpoints: dict[str, Counts] = field(default_factory=dict)
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

    @property
    def total_rejected(self) -> int:
        """Records rejected over all streams."""
        return sum(c.rejected for c in self.streams.values())

    def summary_lines(self, *, dry_run: bool) -> list[str]:
        """One line per stream and per endpoint (skipped= only when rows were skipped)."""
        lines = []
        for kind, table in (("stream", self.streams), ("endpoint", self.endpoints)):
            for name, c in sorted(table.items()):
                sent = f"would_send={c.would_send}" if dry_run else f"accepted={c.accepted}"
                lines.append(
                    f"Summary {kind}={name} in={c.received} {sent} rejected={c.rejected} "
                    f"requests={c.requests} retried={c.retried}"
                    + (f" skipped={c.skipped}" if c.skipped else "")
                )
        return lines
