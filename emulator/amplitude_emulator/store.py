"""One Amplitude project's stored state: events, profiles, groups, dedup, export blobs."""

from __future__ import annotations

import json
import os
import threading
import typing as t
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from amplitude_emulator.dashboard import Figures, compute_figures, zone_day
from amplitude_emulator.export import HourBlob, build_hour_blobs
from amplitude_emulator.generator import EventMeta, GeneratedData, GeneratorSpec
from amplitude_emulator.identity import Identities, assigned_device_id
from amplitude_emulator.ingest_validation import GROUP_IDENTIFY_EVENT, IDENTIFY_EVENT
from amplitude_emulator.labels import group_labels
from amplitude_emulator.normalise import is_revenue, language_name, revenue_properties
from amplitude_emulator.profiles import (
    GROUP_OPERATIONS,
    USER_OPERATIONS,
    apply_operations,
    normalise_operations,
)
from amplitude_emulator.taxonomy import Taxonomy, TaxonomyLimits
from amplitude_emulator.timefmt import (
    MS_PER_DAY,
    MS_PER_HOUR,
    datetime_to_ms,
    ms_to_datetime,
    parse_hour_param,
    parse_start,
    raw_timestamp,
)
from amplitude_emulator.user_admin import AdminState, Lookup

DEDUP_WINDOW_MS = 7 * MS_PER_DAY
# Export API docs: "Events before November 12, 2014 are grouped by day, instead of by the hour."
DAY_GROUPED_BEFORE_HOUR = 16386 * 24  # 2014-11-12T00:00Z as an epoch hour
REGIONS = ("standard", "eu")
_COPIED_FIELDS = (
    "platform",
    "os_name",
    "os_version",
    "device_brand",
    "device_manufacturer",
    "device_model",
)
_LOCATION_FIELDS = ("country", "region", "city", "dma", "location_lat", "location_lng")


class _PendingExport(t.NamedTuple):
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


_LABEL_FIELDS = ("city", "region", "dma", "platform", "os_name", "os_version", "device_model")


def _has_revenue_fields(event: dict[str, Any]) -> bool:
    properties = event.get("event_properties")
    return (
        "price" in event
        or "revenue" in event
        or (isinstance(properties, dict) and ("$price" in properties or "$revenue" in properties))
    )


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


class Project:
    """A project: keys, region, generated and ingested events, profiles and groups."""

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        region: str = "standard",
        project_id: int = 187520,
        cohorts_enabled: bool = True,
        country_group_by_ok: bool = True,
        annotations_v3: bool = True,
        partition_events: int = 50_000,
        zip_directory_entry: bool = True,
        export_lag_hours: float | None = None,
        timezone: str = "UTC",
        taxonomy_enabled: bool = True,
        cohort_job_polls: int = 1,
        blob_cache_bytes: int = 1 << 30,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        self.api_key = api_key
        self.secret_key = secret_key
        self.region = region
        self.project_id = project_id
        self.cohorts_enabled = cohorts_enabled
        self.country_group_by_ok = country_group_by_ok
        self.annotations_v3 = annotations_v3
        self.partition_events = partition_events
        self.zip_directory_entry = zip_directory_entry
        if export_lag_hours is not None and export_lag_hours < 0:
            raise ValueError(f"export_lag_hours must be >= 0 or None, got {export_lag_hours!r}")
        self.export_lag_hours = export_lag_hours
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._clock_ms = clock_ms or (lambda: 0)
        self.generated: GeneratedData | None = None
        self.ingested: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.user_groups: dict[str, dict[str, Any]] = {}
        self.extra_annotations: list[dict[str, Any]] = []
        self.extra_cohorts: list[dict[str, Any]] = []
        # Cohorts: a recomputation changes lastComputed (and maybe size) of any cohort.
        self.cohort_changes: dict[str, dict[str, Any]] = {}
        # Status polls answered 202 "JOB INPROGRESS" before a download job completes.
        self.cohort_job_polls = cohort_job_polls
        self.taxonomy_enabled = taxonomy_enabled
        self._taxonomy: Taxonomy | None = None
        self.taxonomy_limits = TaxonomyLimits()
        # Ingested events of an hour: export lines, built on first export (a _PendingExport
        # until then), so ingesting stays cheap enough for benchmarks of the write side.
        self._lines: dict[int, list[str | _PendingExport]] = {}
        self._ingest_counter = 0  # never reset: uuids stay unique across resets
        self._metas: dict[int, list[EventMeta]] = {}
        self._dedup: dict[str, dict[str, int]] = {}
        self._identities = Identities()
        self._paying: set[str] = set()  # persons with a revenue event ("paying")
        self._start_versions: dict[str, str] = {}  # person -> first app_version seen
        self._lock = threading.RLock()
        self._cache = BlobCache(blob_cache_bytes)
        self._figures_cache: Any = None
        # /usermap, deletions and uploaded cohorts (user_admin.py); deletions applied to exports.
        self.admin = AdminState()
        self._deleted: tuple[frozenset[str], frozenset[int]] = (frozenset(), frozenset())
        self.version = 0  # bumped on every change of exportable data

    # -- data generation -------------------------------------------------------------------

    def generate(self, spec: GeneratorSpec) -> Project:
        """Replace the generated data with ``spec``'s (deterministic, built lazily per hour)."""
        with self._lock:
            self.generated = GeneratedData(spec, self.project_id)
            self._changed(None)
        return self

    # -- export side -----------------------------------------------------------------------

    def hours_with_data(self, start_hour: int, end_hour: int) -> list[int]:
        with self._lock:
            hours = set(self._lines)
            if self.generated is not None:
                hours.update(self.generated.hours_with_data())
        return sorted(h for h in hours if start_hour <= h <= end_hour)

    def _hour_content(self, hour: int) -> tuple[list[str], list[EventMeta]]:
        lines: list[str] = []
        metas: list[EventMeta] = []
        if self.generated is not None:
            lines, metas = self.generated.generate_hour(hour)
        with self._lock:
            pending = self._lines.get(hour, [])
            for index, line in enumerate(pending):
                if not isinstance(line, str):
                    record = self._export_record(line)
                    pending[index] = json.dumps(record, separators=(", ", ": "))
            lines = lines + t.cast("list[str]", pending)
            metas = metas + self._metas.get(hour, [])
            deleted_users, deleted_ids = self._deleted
        if deleted_ids:
            kept = [
                (line, meta)
                for line, meta in zip(lines, metas, strict=True)
                if not _deleted_line(line, deleted_users, deleted_ids)
            ]
            lines, metas = [k[0] for k in kept], [k[1] for k in kept]
        return lines, metas

    def merges(self) -> list[tuple[int, int, int]]:
        """Merges of two amplitude_ids so far: (amplitude_id, merged_amplitude_id, ms)."""
        with self._lock:
            return list(self._identities.merges)

    def apply_due_deletions(self) -> None:
        """Deletion jobs whose day has come (emulator clock): their users' events are gone."""
        today = ms_to_datetime(self._clock_ms()).date()
        deleted = self.admin.deleted(today)
        with self._lock:
            if deleted != self._deleted:
                self._deleted = deleted
                self._changed(None)

    def admin_lookup(self) -> Lookup:
        """What /api/2/deletions/users and the cohort APIs know of this project's users."""

        def of_user(user_id: str) -> int | None:
            with self._lock:
                return self._identities.of_user(user_id)

        def known(amplitude_id: int) -> bool:
            with self._lock:
                return self._identities.known(amplitude_id)

        def user_of(amplitude_id: int) -> str | None:
            with self._lock:
                return self._identities.user_of(amplitude_id)

        return Lookup(of_user, known, user_of)

    def hour_blobs(self, hour: int) -> list[HourBlob]:
        """The cached gzip partitions of one hour (built on first use)."""
        blobs = self._cache.get(hour)
        if blobs is None:
            lines, _ = self._hour_content(hour)
            blobs = build_hour_blobs(hour, lines, self.partition_events)
            self._cache.put(hour, blobs)
        return blobs

    # -- export availability (read side) ----------------------------------------------------

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
        lines, _ = self._hour_content(hour)
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

    def day(self, ms: int) -> date:
        """The day of an instant in the project's time zone (the Dashboard REST API's days)."""
        return zone_day(ms, self._zone)

    def warm(self, processes: int | None = None) -> None:
        """Build every hour's blobs now (benchmarks call this before timing).

        Hours holding only generated events are built in worker processes (the data depends
        only on the spec and the hour), so a million events take seconds, not a minute.
        """
        hours = self.hours_with_data(0, 1 << 40)
        with self._lock:
            generated_only = [h for h in hours if h not in self._lines]
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
            lines, _ = self._hour_content(hour)
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
            for hour, lines in self._lines.items():
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
            yield from self._hour_content(hour)[1]

    def cached_figures(self, build: Callable[[Project], Any]) -> Any:
        """Dashboard figures, computed once per data version."""
        with self._lock:
            version = self.version
            cached = self._figures_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        figures = build(self)
        with self._lock:
            self._figures_cache = (version, figures)
        return figures

    def figures(self) -> Figures:
        """The per-day facts behind /api/2/users, /sessions/average and /events/list."""
        return cast(
            "Figures",
            self.cached_figures(
                lambda p: compute_figures(p.all_metas(), dict(p._identities.merged), p.day)
            ),
        )

    def _changed(self, hour: int | None) -> None:
        self.version += 1
        if hour is None:
            self._cache.clear()
        else:
            self._cache.invalidate(hour)

    # -- profiles --------------------------------------------------------------------------

    def profile_for(self, user_id: str | None, device_id: str | None) -> dict[str, Any]:
        """The live profile dict of a user/device; ties the device to the user when both given."""
        with self._lock:
            if user_id is not None:
                profile = self.users.setdefault(user_id, {})
                if device_id is not None:
                    anonymous = self.devices.get(device_id)
                    if anonymous is not None and anonymous is not profile:
                        for key, value in anonymous.items():
                            profile.setdefault(key, value)
                    self.devices[device_id] = profile
                return profile
            assert device_id is not None
            return self.devices.setdefault(device_id, {})

    def _update(self, profile: dict[str, Any], operations: dict[str, Any]) -> None:
        updated = apply_operations(profile, operations)
        profile.clear()
        profile.update(updated)

    def identify(self, identifications: list[dict[str, Any]]) -> None:
        """Apply validated /identify objects to the stored profiles."""
        with self._lock:
            for item in identifications:
                user_id, device_id = item.get("user_id"), item.get("device_id")
                if user_id is not None and device_id is not None:
                    self._identities.resolve(
                        user_id, device_id, self._clock_ms()
                    )  # "set the User ID for a Device ID"
                profile = self.profile_for(user_id, device_id)
                operations = normalise_operations(item.get("user_properties"), USER_OPERATIONS)
                self._update(profile, operations)
                groups = item.get("groups")
                if groups:
                    owner = user_id or device_id
                    assert owner is not None
                    self.user_groups.setdefault(owner, {}).update(groups)
                    profile.update(groups)

    def group_identify(self, identifications: list[dict[str, Any]]) -> None:
        """Apply validated /groupidentify objects to the stored groups."""
        with self._lock:
            for item in identifications:
                key = (item["group_type"], item["group_value"])
                props = self.groups.setdefault(key, {})
                self._update(
                    props, normalise_operations(item.get("group_properties"), GROUP_OPERATIONS)
                )

    def _group_identify_event(self, event: dict[str, Any]) -> None:
        """A ``$groupidentify`` event: its ``group_properties`` operations applied to every
        group its ``groups`` names (it is not an exportable event of a user)."""
        operations = normalise_operations(event.get("group_properties"), USER_OPERATIONS)
        for group_type, values in (event.get("groups") or {}).items():
            for value in values if isinstance(values, list) else [values]:
                self._update(self.groups.setdefault((group_type, str(value)), {}), operations)

    # -- ingest ----------------------------------------------------------------------------

    def ingest(self, events: list[dict[str, Any]], path: str) -> int:
        """Store validated events (insert_id dedup per device for 7 days); returns how many."""
        now = self._clock_ms()
        now_raw = raw_timestamp(now)
        hour = now // MS_PER_HOUR
        stored = 0
        with self._lock:
            for event in events:
                if self._is_duplicate(event, now):
                    continue
                if event.get("event_type") == GROUP_IDENTIFY_EVENT:
                    self.ingested.append(event)
                    self._group_identify_event(event)
                    stored += 1
                    continue
                line, meta = self._to_export(event, now, now_raw, path)
                self.ingested.append(event)
                self._lines.setdefault(hour, []).append(line)
                self._metas.setdefault(hour, []).append(meta)
                stored += 1
            if stored:
                self._changed(hour)
        return stored

    def _is_duplicate(self, event: dict[str, Any], now: int) -> bool:
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

    def _to_export(
        self, event: dict[str, Any], now: int, now_raw: str, path: str
    ) -> tuple[_PendingExport, EventMeta]:
        """Apply the event to the project's state now; build its export record later.

        What depends on the project's state at ingest (the profile the event carries, groups,
        ids) is captured here; the export record is built when the hour is first exported.
        """
        user_id, device_id = event.get("user_id"), event.get("device_id")
        exported_device = device_id if device_id is not None else assigned_device_id(str(user_id))
        amplitude_id = self._identities.resolve(user_id, exported_device, now)
        person = self._identities.person(user_id, exported_device)
        global_user = self.admin.usermap.get(str(user_id)) if user_id is not None else None
        if global_user is not None:
            # /usermap: the user's events join the global user's stream and counts; the user's
            # own properties stay on the user (not merged).
            amplitude_id = self._identities.resolve(global_user, None)
            person = global_user
        skip_sync = bool(event.get("$skip_user_properties_sync"))
        event_props = event.get("user_properties") or {}
        if skip_sync:
            carried = dict(normalise_operations(event_props).get("$set", {}))
            updated = False
        else:
            profile = self.profile_for(user_id, device_id)
            operations = normalise_operations(event_props)
            self._update(profile, operations)
            carried = dict(profile)
            updated = bool(operations)
        if event.get("event_type") == IDENTIFY_EVENT and event.get("groups"):
            # set_group: an identify's groups join the user to them durably (as /identify's)
            self.user_groups.setdefault(person, {}).update(event["groups"])
            if not skip_sync:
                profile.update(event["groups"])
                carried = dict(profile)
        groups: dict[str, Any] = dict(self.user_groups.get(person, {}))
        groups.update(event.get("groups") or {})
        group_properties: dict[str, Any] = {}
        for group_type, values in groups.items():
            for value in values if isinstance(values, list) else [values]:
                props = self.groups.get((group_type, str(value)))
                if props is not None:
                    group_properties.setdefault(group_type, {})[str(value)] = dict(props)
        event_ms = event.get("time")
        if event_ms is None:
            event_ms = now
        if event.get("app_version"):
            self._start_versions.setdefault(person, event["app_version"])
        if _has_revenue_fields(event) and is_revenue(revenue_properties(event)):
            self._paying.add(person)
        self._ingest_counter += 1
        pending = _PendingExport(
            event,
            carried,
            updated,
            groups,
            group_properties,
            now_raw,
            event_ms,
            now,
            self._ingest_counter,
            amplitude_id,
            path,
            exported_device,
        )
        session_id = event.get("session_id", -1)
        country = event.get("country") or carried.get("country")
        labels = group_labels(
            {
                **{key: event.get(key) for key in _LABEL_FIELDS},
                "country": country,
                "language": language_name(event.get("language")),
                "version_name": event.get("app_version"),
                "start_version": self._start_versions.get(person),
                "paying": True if person in self._paying else None,
            }
        )
        meta = EventMeta(
            person,
            event_ms,
            session_id if isinstance(session_id, int) else -1,
            event["event_type"],
            country,
            event.get("platform"),
            labels,
        )
        return pending, meta

    def _export_record(self, pending: _PendingExport) -> dict[str, Any]:
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

    def reset_ingested(self) -> None:
        """Forget everything the write side stored (generated data stays)."""
        with self._lock:
            self.ingested.clear()
            self.users.clear()
            self.devices.clear()
            self.groups.clear()
            self.user_groups.clear()
            self._lines.clear()
            self._metas.clear()
            self._dedup.clear()
            self._identities.clear()
            self.admin.clear()
            self._deleted = (frozenset(), frozenset())
            self._paying.clear()
            self._start_versions.clear()
            self._changed(None)

    # -- annotations and cohorts -----------------------------------------------------------

    def annotations(self) -> list[dict[str, Any]]:
        """Annotations (internal shape: start_ms, end_ms, label, details, category, chart_id)."""
        generated = self.generated.annotations() if self.generated else []
        return generated + list(self.extra_annotations)

    def cohorts(self) -> list[dict[str, Any]]:
        generated = []
        if self.generated is not None:
            generated = self.generated.cohorts(self.generated.start_hour * MS_PER_HOUR)
        with self.admin.lock:  # cohorts uploaded through /api/3/cohorts/upload
            uploaded = [dict(c) for c in self.admin.cohorts.values()]
        return [
            {**cohort, **self.cohort_changes.get(str(cohort["id"]), {})}
            for cohort in generated + list(self.extra_cohorts) + uploaded
        ]

    def cohort(self, cohort_id: str) -> dict[str, Any] | None:
        return next((c for c in self.cohorts() if str(c["id"]) == cohort_id), None)

    def add_cohort(
        self,
        name: str,
        size: int,
        *,
        cohort_id: str | None = None,
        last_computed: int = 1_767_225_600,
        archived: bool = False,
    ) -> dict[str, Any]:
        """A cohort of ``size`` members (lastComputed in epoch seconds, as documented)."""
        cohort = {
            "appId": self.project_id,
            "archived": archived,
            "definition": {},
            "description": None,
            "finished": True,
            "id": cohort_id or f"c{len(self.extra_cohorts):06d}",
            "name": name,
            "owners": ["owner0@example.com"],
            "viewers": [],
            "published": True,
            "size": size,
            "type": "redshift",
            "lastMod": last_computed,
            "createdAt": last_computed - 86_400,
            "lastComputed": last_computed,
            "hidden": False,
            "metadata": [],
            "shortcut_ids": [],
        }
        self.extra_cohorts.append(cohort)
        return cohort

    def recompute_cohort(self, cohort_id: str, last_computed: int, size: int | None = None) -> None:
        """The cohort was computed again at ``last_computed`` (epoch seconds)."""
        change = self.cohort_changes.setdefault(cohort_id, {})
        change["lastComputed"] = last_computed
        if size is not None:
            change["size"] = size

    def taxonomy(self) -> Taxonomy:
        """The tracking plan (built from the generated event types on first use)."""
        if self._taxonomy is None:
            self._taxonomy = Taxonomy.generated(self.event_types)
        return self._taxonomy

    @property
    def event_types(self) -> list[str]:
        declared = list(self.generated.spec.event_types) if self.generated else []
        seen = {event.get("event_type") for event in self.ingested}
        return declared + sorted(str(t) for t in seen if t not in declared)

    # -- summary ---------------------------------------------------------------------------

    def summary(self, include_events: bool = True) -> dict[str, Any]:
        """JSON-able view for the inspection API."""
        with self._lock:
            body: dict[str, Any] = {
                "api_key": self.api_key,
                "region": self.region,
                "project_id": self.project_id,
                "cohorts_enabled": self.cohorts_enabled,
                "taxonomy_enabled": self.taxonomy_enabled,
                "country_group_by_ok": self.country_group_by_ok,
                "annotations_v3": self.annotations_v3,
                "export_lag_hours": self.export_lag_hours,
                "timezone": self.timezone,
                "export_count": self.export_count(),
                "ingested_count": len(self.ingested),
                "users": self.users,
                "devices": self.devices,
                "groups": [
                    {"group_type": t, "group_value": v, "group_properties": p}
                    for (t, v), p in self.groups.items()
                ],
                "user_groups": self.user_groups,
            }
            if include_events:
                body["ingested"] = list(self.ingested)
            return body
