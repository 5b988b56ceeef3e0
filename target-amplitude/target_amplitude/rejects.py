"""The rejected-records file: one JSON line per record Amplitude or our validation refused."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import typing as t
from pathlib import Path

from target_amplitude.mapping import ENCODER


class RejectsWriter:
    """Appends {stream, record, payload, reason, endpoint, retryable, key_properties, at} lines.

    Opened on first reject. `retryable` is true when the same record can succeed later as it is
    (a user over the daily quota); `key_properties` lets `target-amplitude-resend` turn the file
    back into Singer input that maps to the same insert_ids.

    The api_key is never part of a line: records and payloads carry none, and reasons coming
    from Amplitude are redacted by the caller (see client.redact).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: t.BinaryIO | None = None
        self._lock = threading.Lock()
        self.count = 0

    def write(
        self,
        *,
        stream: str,
        record: t.Any,
        payload: t.Any,
        reason: str,
        endpoint: str | None,
        retryable: bool = False,
        key_properties: t.Sequence[str] = (),
    ) -> None:
        """Append one rejected record (buffered; flush() makes it durable)."""
        line = ENCODER.encode(
            {
                "stream": stream,
                "record": record,
                "payload": payload,
                "reason": reason,
                "endpoint": endpoint,
                "retryable": retryable,
                "key_properties": list(key_properties),
                "at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            }
        )
        with self._lock:
            if self._file is None:
                if self.path.parent != Path():
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
                if _ends_mid_line(self.path):  # a run killed while writing: end its line
                    self._file.write(b"\n")
            self._file.write(line + b"\n")
            self.count += 1

    def flush(self) -> None:
        """Make every line written so far durable (called before STATE is emitted)."""
        with self._lock:
            if self._file is not None:
                self._file.flush()
                with contextlib.suppress(OSError):  # not a regular file (a pipe, /dev/null)
                    os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _ends_mid_line(path: Path) -> bool:
    """True when the file is not empty and its last byte is not a newline."""
    try:
        with path.open("rb") as existing:
            existing.seek(0, os.SEEK_END)
            if existing.tell() == 0:
                return False
            existing.seek(-1, os.SEEK_END)
            return existing.read(1) != b"\n"
    except OSError:  # not seekable (a pipe, /dev/null)
        return False
