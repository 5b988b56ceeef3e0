"""One Amplitude project: its settings and its state, composed of per-family stores (events,
people, catalog, admin), with the operations that span them (ingest, deletions, figures)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from amplitude_emulator.catalog import Catalog
from amplitude_emulator.cohort_limits import CohortLimits
from amplitude_emulator.dashboard import Figures, compute_figures, zone_day
from amplitude_emulator.event_store import EventStore, to_hour
from amplitude_emulator.export import HourBlob
from amplitude_emulator.generator import EventMeta, GeneratedData, GeneratorSpec
from amplitude_emulator.ingest_validation import GROUP_IDENTIFY_EVENT
from amplitude_emulator.people import People
from amplitude_emulator.taxonomy import Taxonomy, TaxonomyLimits
from amplitude_emulator.timefmt import MS_PER_HOUR, ms_to_datetime, raw_timestamp
from amplitude_emulator.user_admin import AdminState, Lookup

__all__ = ["REGIONS", "Project", "to_hour"]

REGIONS = ("standard", "eu")


class Project:
    """A project: keys, region, settings; its events (``events``), people (``people``),
    annotations, cohorts and taxonomy (``catalog``) and admin state (``admin``). The attributes
    and methods below are the Python API tests, the demo and benchmarks use (emulator/README.md)."""

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
        self.zip_directory_entry = zip_directory_entry
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._clock_ms = clock_ms or (lambda: 0)
        # Status polls answered 202 "JOB INPROGRESS" before a download job completes.
        self.cohort_job_polls = cohort_job_polls
        # Get-one-cohort requests: 60 per 10 minutes, 4 at once, 500 per month (cohort_limits.py).
        self.cohort_limits = CohortLimits()
        self.taxonomy_enabled = taxonomy_enabled
        self.taxonomy_limits = TaxonomyLimits()
        # Where /event-property and /group-property read event_type / group_type: the form body
        # of the GET (documented) and the query string. A test takes one away to play a server
        # that ignores it.
        self.taxonomy_reads: frozenset[str] = frozenset({"body", "query"})
        self._lock = threading.RLock()  # one lock for every store of the project
        self.events = EventStore(
            project_id=project_id,
            partition_events=partition_events,
            export_lag_hours=export_lag_hours,
            blob_cache_bytes=blob_cache_bytes,
            lock=self._lock,
        )
        self.people = People(self._lock)
        # /usermap, deletions and uploaded cohorts (user_admin.py); deletions applied to exports.
        self.admin = AdminState()
        self.catalog = Catalog(project_id, self.events, self.admin)
        self._figures_cache: Any = None

    # -- the stores' data, as the Python API names it ------------------------------------------

    @property
    def generated(self) -> GeneratedData | None:
        return self.events.generated

    @property
    def ingested(self) -> list[dict[str, Any]]:
        return self.events.ingested

    @property
    def version(self) -> int:
        """Bumped on every change of exportable data."""
        return self.events.version

    @property
    def partition_events(self) -> int:
        return self.events.partition_events

    @property
    def export_lag_hours(self) -> float | None:
        return self.events.export_lag_hours

    @export_lag_hours.setter
    def export_lag_hours(self, value: float | None) -> None:
        self.events.export_lag_hours = value

    @property
    def users(self) -> dict[str, dict[str, Any]]:
        return self.people.users

    @property
    def devices(self) -> dict[str, dict[str, Any]]:
        return self.people.devices

    @property
    def groups(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self.people.groups

    @property
    def user_groups(self) -> dict[str, dict[str, Any]]:
        return self.people.user_groups

    @property
    def extra_annotations(self) -> list[dict[str, Any]]:
        return self.catalog.extra_annotations

    @property
    def extra_cohorts(self) -> list[dict[str, Any]]:
        return self.catalog.extra_cohorts

    @property
    def cohort_changes(self) -> dict[str, dict[str, Any]]:
        return self.catalog.cohort_changes

    # -- data generation -------------------------------------------------------------------

    def generate(self, spec: GeneratorSpec) -> Project:
        """Replace the generated data with ``spec``'s (deterministic, built lazily per hour)."""
        self.events.generate(spec)
        return self

    # -- export side (event_store.py) --------------------------------------------------------

    def hours_with_data(self, start_hour: int, end_hour: int) -> list[int]:
        return self.events.hours_with_data(start_hour, end_hour)

    def merges(self) -> list[tuple[int, int, int]]:
        """Merges of two amplitude_ids so far: (amplitude_id, merged_amplitude_id, ms)."""
        with self._lock:
            return list(self.people.identities.merges)

    def hour_blobs(self, hour: int) -> list[HourBlob]:
        """The cached gzip partitions of one hour (built on first use)."""
        return self.events.hour_blobs(hour)

    def loaded_fraction(self, hour: int, now_ms: int) -> float:
        """How much of ``hour`` the Export API serves at ``now_ms`` (EventStore.loaded_fraction)."""
        return self.events.loaded_fraction(hour, now_ms)

    def export_blobs(self, hour: int, now_ms: int) -> list[HourBlob]:
        """The gzip partitions the Export API serves for ``hour`` at ``now_ms``."""
        return self.events.export_blobs(hour, now_ms)

    export_hours = staticmethod(EventStore.export_hours)

    def warm(self, processes: int | None = None) -> None:
        """Build every hour's blobs now (benchmarks call this before timing)."""
        self.events.warm(processes)

    def export_events(
        self, start_hour: int | str | datetime, end_hour: int | str | datetime
    ) -> Iterator[dict[str, Any]]:
        """Export-shaped events of the hours (inclusive) in the order the export serves them."""
        return self.events.export_events(start_hour, end_hour)

    def export_count(
        self,
        start_hour: int | str | datetime | None = None,
        end_hour: int | str | datetime | None = None,
    ) -> int:
        return self.events.export_count(start_hour, end_hour)

    def all_metas(self) -> Iterator[EventMeta]:
        return self.events.all_metas()

    # -- deletions (user_admin.py) -----------------------------------------------------------

    def apply_due_deletions(self) -> None:
        """Deletion jobs whose day has come (emulator clock): their users' events are gone."""
        today = ms_to_datetime(self._clock_ms()).date()
        self.events.apply_deletions(self.admin.deleted(today))

    def admin_lookup(self) -> Lookup:
        """What /api/2/deletions/users and the cohort APIs know of this project's users."""
        return self.people.lookup()

    # -- dashboard figures (dashboard.py) ----------------------------------------------------

    def day(self, ms: int) -> date:
        """The day of an instant in the project's time zone (the Dashboard REST API's days)."""
        return zone_day(ms, self._zone)

    def cached_figures(self, build: Callable[[Project], Any]) -> Any:
        """Dashboard figures, computed once per data version."""
        with self._lock:
            version = self.events.version
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
                lambda p: compute_figures(p.all_metas(), dict(p.people.identities.merged), p.day)
            ),
        )

    # -- people (people.py) ------------------------------------------------------------------

    def profile_for(self, user_id: str | None, device_id: str | None) -> dict[str, Any]:
        """The live profile dict of a user/device; ties the device to the user when both given."""
        return self.people.profile_for(user_id, device_id)

    def identify(self, identifications: list[dict[str, Any]]) -> None:
        """Apply validated /identify objects to the stored profiles."""
        self.people.identify(identifications, self._clock_ms())

    def group_identify(self, identifications: list[dict[str, Any]]) -> None:
        """Apply validated /groupidentify objects to the stored groups."""
        self.people.group_identify(identifications)

    # -- ingest ----------------------------------------------------------------------------

    def ingest(self, events: list[dict[str, Any]], path: str) -> int:
        """Store validated events (insert_id dedup per device for 7 days); returns how many."""
        now = self._clock_ms()
        now_raw = raw_timestamp(now)
        hour = now // MS_PER_HOUR
        stored = 0
        store, people, usermap = self.events, self.people, self.admin.usermap
        with self._lock:
            for event in events:
                if store.is_duplicate(event, now):
                    continue
                if event.get("event_type") == GROUP_IDENTIFY_EVENT:
                    store.ingested.append(event)
                    people.group_identify_event(event)
                    stored += 1
                    continue
                store.ingest_counter += 1
                line, meta = people.capture(
                    event, now, now_raw, path, store.ingest_counter, usermap
                )
                store.ingested.append(event)
                store.lines.setdefault(hour, []).append(line)
                store.metas.setdefault(hour, []).append(meta)
                stored += 1
            if stored:
                store.changed(hour)
        return stored

    def reset_ingested(self) -> None:
        """Forget everything the write side stored (generated data stays)."""
        with self._lock:
            self.events.clear()
            self.people.clear()
            self.admin.clear()

    # -- annotations, cohorts, taxonomy (catalog.py) ------------------------------------------

    def annotations(self) -> list[dict[str, Any]]:
        """Annotations (internal shape: start_ms, end_ms, label, details, category, chart_id)."""
        return self.catalog.annotations()

    def cohorts(self) -> list[dict[str, Any]]:
        return self.catalog.cohorts()

    def cohort(self, cohort_id: str) -> dict[str, Any] | None:
        return self.catalog.cohort(cohort_id)

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
        return self.catalog.add_cohort(
            name, size, cohort_id=cohort_id, last_computed=last_computed, archived=archived
        )

    def recompute_cohort(self, cohort_id: str, last_computed: int, size: int | None = None) -> None:
        """The cohort was computed again at ``last_computed`` (epoch seconds)."""
        self.catalog.recompute_cohort(cohort_id, last_computed, size)

    def taxonomy(self) -> Taxonomy:
        """The tracking plan (built from the generated event types on first use)."""
        return self.catalog.taxonomy()

    @property
    def event_types(self) -> list[str]:
        return self.catalog.event_types

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
