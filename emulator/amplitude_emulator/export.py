"""The Export API body: per-hour gzip JSON-lines blobs inside a stored (not deflated) ZIP.

Blobs are built once per hour and cached by the project; a response is laid out from them
without copying: :class:`ZipLayout` knows its exact length before the first byte is sent and
yields the headers and the cached blobs in order.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from amplitude_emulator.timefmt import hour_to_datetime

GZIP_LEVEL = 1  # fast; still a real gzip member any reader accepts


@dataclass(frozen=True)
class HourBlob:
    """One gzip file of the export: a partition of one hour."""

    hour: int
    partition: int
    data: bytes
    crc: int
    events: int


def entry_name(project_id: int, hour: int, partition: int) -> str:
    """``<project_id>/<project_id>_<yyyy-MM-dd>_<H>#<n>.json.gz`` (H not zero-padded)."""
    moment = hour_to_datetime(hour)
    return f"{project_id}/{project_id}_{moment:%Y-%m-%d}_{moment.hour}#{partition}.json.gz"


def build_hour_blobs(hour: int, lines: Sequence[str], partition_events: int) -> list[HourBlob]:
    """Split an hour's JSON lines into partitions of at most ``partition_events`` and gzip them."""
    blobs = []
    for partition, first in enumerate(range(0, len(lines), partition_events)):
        chunk = lines[first : first + partition_events]
        raw = ("\n".join(chunk) + "\n").encode("utf-8")
        data = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)
        blobs.append(HourBlob(hour, partition, data, zlib.crc32(data), len(chunk)))
    return blobs


def _dos_time(hour: int) -> tuple[int, int]:
    moment = hour_to_datetime(hour)
    dos_date = (moment.year - 1980) << 9 | moment.month << 5 | moment.day
    dos_time = moment.hour << 11
    return dos_time, dos_date


@dataclass(frozen=True)
class _Entry:
    name: bytes
    data: bytes
    crc: int
    dos_time: int
    dos_date: int
    is_dir: bool


class ZipLayout:
    """A stored ZIP of the blobs, optionally led by a ``<project_id>/`` directory entry."""

    def __init__(self, project_id: int, blobs: Sequence[HourBlob], directory_entry: bool) -> None:
        entries: list[_Entry] = []
        if directory_entry and blobs:
            dos_time, dos_date = _dos_time(blobs[0].hour)
            entries.append(_Entry(f"{project_id}/".encode(), b"", 0, dos_time, dos_date, True))
        for blob in blobs:
            dos_time, dos_date = _dos_time(blob.hour)
            name = entry_name(project_id, blob.hour, blob.partition).encode()
            entries.append(_Entry(name, blob.data, blob.crc, dos_time, dos_date, False))
        if len(entries) > 0xFFFF or sum(len(e.data) for e in entries) > 0xFFFFFFFF - 2**24:
            raise ValueError("export too large for a plain zip; shorten the window")
        self._entries = entries
        self.events = sum(blob.events for blob in blobs)
        local = sum(30 + len(e.name) + len(e.data) for e in entries)
        central = sum(46 + len(e.name) for e in entries)
        self.content_length = local + central + 22

    def chunks(self) -> Iterator[bytes]:
        """The body, in order: local headers with their data, central directory, end record."""
        central: list[bytes] = []
        offset = 0
        for entry in self._entries:
            size = len(entry.data)
            header = struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0,
                0,
                entry.dos_time,
                entry.dos_date,
                entry.crc,
                size,
                size,
                len(entry.name),
                0,
            )
            attributes = (0o40755 << 16 | 0x10) if entry.is_dir else (0o644 << 16)
            central.append(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    0x0314,
                    20,
                    0,
                    0,
                    entry.dos_time,
                    entry.dos_date,
                    entry.crc,
                    size,
                    size,
                    len(entry.name),
                    0,
                    0,
                    0,
                    0,
                    attributes,
                    offset,
                )
                + entry.name
            )
            yield header + entry.name
            if size:
                yield entry.data
            offset += 30 + len(entry.name) + size
        directory = b"".join(central)
        count = len(self._entries)
        end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), offset, 0)
        yield directory + end
