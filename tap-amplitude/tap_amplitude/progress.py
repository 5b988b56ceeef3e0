"""Progress of a long export, for the log: window i of n, events so far, rate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tap_amplitude.windows import HOUR, Window


@dataclass
class ExportProgress:
    """Counts events per planned window; `window_done` returns the log line."""

    total_windows: int
    windows_done: int = 0
    events: int = 0
    window_events: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, count: int) -> None:
        """Events read from one export response (a window, or half of one after a split)."""
        self.events += count
        self.window_events += count

    def window_done(self, window: Window) -> str:
        """Close a planned window; the line says where the export stands."""
        self.windows_done += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        of = max(self.total_windows, self.windows_done)
        last = window.end - HOUR
        line = (
            f"window {self.windows_done} of {of} done "
            f"[{window.start:%Y-%m-%dT%H}:00Z to {last:%Y-%m-%dT%H}:59Z]: "
            f"{self.window_events:,} events; {self.events:,} events so far, "
            f"{self.events / elapsed:,.0f} events/s"
        )
        self.window_events = 0
        return line
