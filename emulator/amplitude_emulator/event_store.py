"""The events of one project by hour, as the Export API serves them: generated and ingested
events, insert_id dedup, the export records built lazily, deletions applied, gzip blobs cached."""

from __future__ import annotations

import json
import os
import threading
import typing as t
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from amplitude_emulator.export import HourBlob, build_hour_blobs
from amplitude_emulator.generator import EventMeta, GeneratedData, GeneratorSpec
from amplitude_emulator.normalise import language_name, revenue_properties
from amplitude_emulator.timefmt import (
    MS_PER_DAY,
    MS_PER_HOUR,
    datetime_to_ms,
    parse_hour_param,
    parse_start,
    raw_timestamp,
)

DEDUP_WINDOW_MS = 7 * MS_PER_DAY
# Export API docs: "Events before November 12, 2014 are grouped by day, instead of by the hour."
DAY_GROUPED_BEFORE_HOUR = 16386 * 24  # 2014-11-12T00:00Z as an epoch hour
_COPIED_FIELDS = (
    "platform",
    "os_name",
    "os_version",
    "device_brand",
    "device_manufacturer",
    "device_model",
)
_LOCATION_FIELDS = ("country", "region", "city", "dma", "location_lat", "location_lng")


class PendingExport(t.NamedTuple):
    """An ingested event and the project state captured at ingest, before its export record."""

    event: dict[str, Any]
    carried: dict[str, Any]
    updated: bool
    groups: dict[str, Any]
    group_properties: dict[str, Any]
    now_raw: str
    event_ms: int
    now: int
    counter: int
    amplitude_id: int
    path: str
    device_id: str | None  # as sent, or the one Amplitude assigns to a user_id-only event


def _deleted_line(line: str, users: frozenset[str], amplitude_ids: frozenset[int]) -> bool:
    record = json.loads(line)
    return record.get("amplitude_id") in amplitude_ids or record.get("user_id") in users


def to_hour(value: int | str | datetime) -> int:
    """An hour given as epoch-hour int, ``YYYYMMDDTHH``/``2026-01-01T00`` or datetime."""
    if isinstance(value, datetime):
        return datetime_to_ms(value) // MS_PER_HOUR
    if isinstance(value, str):
        return parse_hour_param(value) if "-" not in value else parse_start(value)
    return value


def _build_generated(job: tuple[GeneratedData, int, int]) -> list[HourBlob]:
    generated, hour, partition_events = job
    lines, _ = generated.generate_hour(hour)
    return build_hour_blobs(hour, lines, partition_events)


class BlobCache:
    """LRU of per-hour gzip blobs, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, list[HourBlob]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, hour: int) -> list[HourBlob] | None:
        with self._lock:
            blobs = self._items.get(hour)
            if blobs is not None:
                self._items.move_to_end(hour)
            return blobs

    def put(self, hour: int, blobs: list[HourBlob]) -> None:
        with self._lock:
            self._drop(hour)
            self._items[hour] = blobs
            self._bytes += sum(len(b.data) for b in blobs)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                oldest = next(iter(self._items))
                self._drop(oldest)

    def invalidate(self, hour: int) -> None:
        with self._lock:
            self._drop(hour)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _drop(self, hour: int) -> None:
        blobs = self._items.pop(hour, None)
        if blobs:
            self._bytes -= sum(len(b.data) for b in blobs)


class EventStore:
    """A project's events: generated (deterministic, built per hour) and ingested (by the hour
    of their upload), each hour's export lines and dashboard metas, gzip blobs cached."""

    def __init__(
        self,
        *,
        project_id: int,
        partition_events: int,
        export_lag_hours: float | None,
        blob_cache_bytes: int,
        lock: threading.RLock,
    ) -> None:
        if export_lag_hours is not None and export_lag_hours < 0:
            raise ValueError(f"export_lag_hours must be >= 0 or None, got {export_lag_hours!r}")
        self.project_id = project_id
        self.partition_events = partition_events
        self.export_lag_hours = export_lag_hours
        self.generated: GeneratedData | None = None
        self.ingested: list[dict[str, Any]] = []
        # Ingested events of an hour: export lines, built on first export (a PendingExport
        # until then), so ingesting stays cheap enough for benchmarks of the write side.
        self.lines: dict[int, list[str | PendingExport]] = {}
        self.metas: dict[int, list[EventMeta]] = {}
        self.ingest_counter = 0  # never reset: uuids stay unique across resets
        self._dedup: dict[str, dict[str, int]] = {}
        self._lock = lock
        self._cache = BlobCache(blob_cache_bytes)
        self._deleted: tuple[frozenset[str], frozenset[int]] = (frozenset(), frozenset())
        self.version = 0  # bumped on every change of exportable data

    def generate(self, spec: GeneratorSpec) -> None:
        """Replace the generated data with ``spec``'s (deterministic, built lazily per hour)."""
        with self._lock:
            self.generated = GeneratedData(spec, self.project_id)
            self.changed(None)

    def hours_with_data(self, start_hour: int, end_hour: int) -> list[int]:
        with self._lock:
            hours = set(self.lines)
            if self.generated is not None:
                hours.update(self.generated.hours_with_data())
        return sorted(h for h in hours if start_hour <= h <= end_hour)

    def hour_content(self, hour: int) -> tuple[list[str], list[EventMeta]]:
        lines: list[str] = []
        metas: list[EventMeta] = []
        if self.generated is not None:
            lines, metas = self.generated.generate_hour(hour)
        with self._lock:
            pending = self.lines.get(hour, [])
            for index, line in enumerate(pending):
                if not isinstance(line, str):
                    record = self.export_record(line)
                    pending[index] = json.dumps(record, separators=(", ", ": "))
            lines = lines + t.cast("list[str]", pending)
            metas = metas + self.metas.get(hour, [])
            deleted_users, deleted_ids = self._deleted
        if deleted_ids:
            kept = [
                (line, meta)
                for line, meta in zip(lines, metas, strict=True)
                if not _deleted_line(line, deleted_users, deleted_ids)
            ]
            lines, metas = [k[0] for k in kept], [k[1] for k in kept]
        return lines, metas

    def apply_deletions(self, deleted: tuple[frozenset[str], frozenset[int]]) -> None:
        """The users (user ids, amplitude ids) whose events exports no longer serve."""
        with self._lock:
            if deleted != self._deleted:
                self._deleted = deleted
                self.changed(None)

    def hour_blobs(self, hour: int) -> list[HourBlob]:
        """The cached gzip partitions of one hour (built on first use)."""
        blobs = self._cache.get(hour)
        if blobs is None:
            lines, _ = self.hour_content(hour)
            blobs = build_hour_blobs(hour, lines, self.partition_events)
            self._cache.put(hour, blobs)
        return blobs

    def loaded_fraction(self, hour: int, now_ms: int) -> float:
        """How much of ``hour`` the Export API serves at ``now_ms`` (0 = 404, 1 = complete).

        Off (``export_lag_hours=None``): every stored event is exportable at once. On: the hour
        begins loading when it ends and is complete ``export_lag_hours`` later (Amplitude
        documents 2: "data sent between 8 and 9 PM begins loading at 9 PM and is available
        through the Export API at 11 PM"); in between, the first events of the hour (in upload
        order) in proportion to the time spent loading.
        """
        if self.export_lag_hours is None:
            return 1.0
        begins = (hour + 1) * MS_PER_HOUR
        complete = begins + int(self.export_lag_hours * MS_PER_HOUR)
        if now_ms >= complete:
            return 1.0
        if now_ms < begins:
            return 0.0
        return (now_ms - begins) / (complete - begins)

    def export_blobs(self, hour: int, now_ms: int) -> list[HourBlob]:
        """The gzip partitions the Export API serves for ``hour`` at ``now_ms``."""
        fraction = self.loaded_fraction(hour, now_ms)
        if fraction >= 1.0:
            return self.hour_blobs(hour)
        lines, _ = self.hour_content(hour)
        loaded = int(len(lines) * fraction)
        return build_hour_blobs(hour, lines[:loaded], self.partition_events) if loaded else []

    @staticmethod
    def export_hours(start_hour: int, end_hour: int) -> tuple[int, int]:
        """The hours an export of ``[start_hour, end_hour]`` (inclusive) really serves: before
        2014-11-12 Amplitude grouped events by day, so such an hour brings its whole UTC day."""
        if start_hour < DAY_GROUPED_BEFORE_HOUR:
            start_hour -= start_hour % 24
        if end_hour < DAY_GROUPED_BEFORE_HOUR:
            end_hour += 23 - end_hour % 24
        return start_hour, end_hour

    def warm(self, processes: int | None = None) -> None:
        """Build every hour's blobs now (benchmarks call this before timing).

        Hours holding only generated events are built in worker processes (the data depends
        only on the spec and the hour), so a million events take seconds, not a minute.
        """
        hours = self.hours_with_data(0, 1 << 40)
        with self._lock:
            generated_only = [h for h in hours if h not in self.lines]
        workers = processes if processes is not None else min(4, os.cpu_count() or 1)
        if self.generated is not None and workers > 1 and len(generated_only) > 1:
            jobs = [(self.generated, h, self.partition_events) for h in generated_only]
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for hour, blobs in zip(
                    generated_only, pool.map(_build_generated, jobs), strict=True
                ):
                    self._cache.put(hour, blobs)
        for hour in hours:
            self.hour_blobs(hour)

    def export_events(
        self, start_hour: int | str | datetime, end_hour: int | str | datetime
    ) -> Iterator[dict[str, Any]]:
        """Export-shaped events of the hours (inclusive) in the order the export serves them."""
        for hour in self.hours_with_data(to_hour(start_hour), to_hour(end_hour)):
            lines, _ = self.hour_content(hour)
            for line in lines:
                yield json.loads(line)

    def export_count(
        self,
        start_hour: int | str | datetime | None = None,
        end_hour: int | str | datetime | None = None,
    ) -> int:
        first = 0 if start_hour is None else to_hour(start_hour)
        last = 1 << 40 if end_hour is None else to_hour(end_hour)
        total = 0
        with self._lock:
            for hour, lines in self.lines.items():
                if first <= hour <= last:
                    total += len(lines)
        if self.generated is not None:
            total += sum(
                self.generated.count_in(h)
                for h in self.generated.hours_with_data()
                if first <= h <= last
            )
        return total

    def all_metas(self) -> Iterator[EventMeta]:
        for hour in self.hours_with_data(0, 1 << 40):
            yield from self.hour_content(hour)[1]

    def changed(self, hour: int | None) -> None:
        self.version += 1
        if hour is None:
            self._cache.clear()
        else:
            self._cache.invalidate(hour)

    def is_duplicate(self, event: dict[str, Any], now: int) -> bool:
        insert_id = event.get("insert_id")
        if not insert_id:
            return False
        owner = event.get("device_id") or event.get("user_id")
        if owner is None:  # a $groupidentify without ids: per group
            owner = json.dumps(event.get("groups"), sort_keys=True)
        seen = self._dedup.setdefault(str(owner), {})
        previous = seen.get(insert_id)
        if previous is not None and now - previous < DEDUP_WINDOW_MS:
            return True
        seen[insert_id] = now
        return False

    def export_record(self, pending: PendingExport) -> dict[str, Any]:
        """The export-shaped record of an ingested event."""
        event, now_raw, event_ms = pending.event, pending.now_raw, pending.event_ms
        user_id, device_id = event.get("user_id"), pending.device_id
        event_properties = revenue_properties(event)
        event_raw = now_raw if event_ms == pending.now else raw_timestamp(event_ms)
        record: dict[str, Any] = {
            # Deterministic, unique per project (a version-4-shaped uuid: project id, counter).
            "uuid": f"{self.project_id % (1 << 32):08x}-0000-4000-8000-{pending.counter:012x}",
            "$insert_id": event.get("insert_id"),
            "$insert_key": None,
            "$schema": None,
            "event_id": event.get("event_id"),
            "event_type": event["event_type"],
            "amplitude_event_type": None,
            "session_id": event.get("session_id", -1),
            "event_time": event_raw,
            "client_event_time": event_raw,
            "client_upload_time": now_raw,
            "server_received_time": now_raw,
            "server_upload_time": now_raw,
            "processed_time": now_raw,
            "event_properties": event_properties,
            "group_properties": pending.group_properties,
            "groups": pending.groups,
            "global_user_properties": {},
            "data": {
                "path": pending.path,
                "user_properties_updated": pending.updated,
                "group_first_event": {},
                "group_ids": {},
            },
            "data_type": "event",
            "amplitude_attribution_ids": None,
            "is_attribution_event": False,
            "sample_rate": None,
            "plan": event.get("plan") or {},
            "partner_id": event.get("partner_id"),
            "source_id": None,
            "user_id": user_id,
            "device_id": device_id,
            "amplitude_id": pending.amplitude_id,
            "app": self.project_id,
            "user_creation_time": None,
            "user_properties": pending.carried,
            "library": event.get("library")
            or ("http/2.0" if pending.path == "/2/httpapi" else "batch/1.0"),
            **{field: event.get(field) for field in _COPIED_FIELDS},
            "device_family": None,
            "device_type": None,
            "device_carrier": event.get("carrier"),
            "version_name": event.get("app_version"),
            "start_version": None,
            "ip_address": event.get("ip"),
            **{field: event.get(field) for field in _LOCATION_FIELDS},
            "language": language_name(event.get("language")),
            "paying": None,
            "adid": event.get("adid"),
            "idfa": event.get("idfa"),
        }
        return record

    def clear(self) -> None:
        """Forget the ingested events (generated data stays)."""
        with self._lock:
            self.ingested.clear()
            self.lines.clear()
            self.metas.clear()
            self._dedup.clear()
            self._deleted = (frozenset(), frozenset())
            self.changed(None)
