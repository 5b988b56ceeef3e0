"""The project's catalog: chart annotations, cohorts (generated, added, uploaded) and the tracking
plan (taxonomy), what the Dashboard REST, Behavioral Cohorts and Taxonomy APIs list."""

from __future__ import annotations

from typing import Any

from amplitude_emulator.event_store import EventStore
from amplitude_emulator.taxonomy import Taxonomy
from amplitude_emulator.timefmt import MS_PER_HOUR
from amplitude_emulator.user_admin import AdminState


class Catalog:
    """Annotations and cohorts (the generated ones, ``extra_*`` added by tests, cohorts uploaded
    through /api/3/cohorts/upload) and the taxonomy built from the event types."""

    def __init__(self, project_id: int, events: EventStore, admin: AdminState) -> None:
        self.project_id = project_id
        self.extra_annotations: list[dict[str, Any]] = []
        self.extra_cohorts: list[dict[str, Any]] = []
        # Cohorts: a recomputation changes lastComputed (and maybe size) of any cohort.
        self.cohort_changes: dict[str, dict[str, Any]] = {}
        self._events = events
        self._admin = admin
        self._taxonomy: Taxonomy | None = None

    def annotations(self) -> list[dict[str, Any]]:
        """Annotations (internal shape: start_ms, end_ms, label, details, category, chart_id)."""
        generated = self._events.generated.annotations() if self._events.generated else []
        return generated + list(self.extra_annotations)

    def cohorts(self) -> list[dict[str, Any]]:
        generated = []
        if self._events.generated is not None:
            generated = self._events.generated.cohorts(
                self._events.generated.start_hour * MS_PER_HOUR
            )
        with self._admin.lock:  # cohorts uploaded through /api/3/cohorts/upload
            uploaded = [dict(c) for c in self._admin.cohorts.values()]
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
        declared = list(self._events.generated.spec.event_types) if self._events.generated else []
        seen = {event.get("event_type") for event in self._events.ingested}
        return declared + sorted(str(t) for t in seen if t not in declared)
