"""Which cohorts a run downloads (pure): selection, recomputation and the per-run guard.

Amplitude allows 500 cohort downloads per month ("Each Get one cohort request counts toward
this limit", Behavioral Cohorts API docs), so a run downloads only cohorts recomputed since their
last download (incremental), at most ``max_cohort_downloads_per_run`` of them, those waiting
longest first, and says which it left for later. A cohort over the documented maximum size
("Amplitude supports a maximum cohort size of 2 million users") is never requested: the request
would spend one of the 500 for a file Amplitude does not serve.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_amplitude.cohort_limits import MAX_COHORT_MEMBERS

__all__ = ["Cohort", "DownloadPlan", "epoch_to_datetime", "plan_downloads", "poll_delay"]

# lastComputed is epoch seconds in the docs; a value this large can only be milliseconds.
_MS_THRESHOLD = 100_000_000_000


def epoch_to_datetime(value: Any) -> dt.datetime | None:
    """An epoch in seconds or milliseconds (detected by size) as an aware UTC datetime."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    if number >= _MS_THRESHOLD:
        number /= 1000
    return dt.datetime.fromtimestamp(number, dt.UTC)


@dataclass(frozen=True)
class Cohort:
    """What the plan needs of a cohort of /api/3/cohorts."""

    id: str
    name: str
    last_computed: dt.datetime | None
    archived: bool
    size: int | None = None  # members at the last computation (None: not listed)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Cohort:
        size = item.get("size")
        return cls(
            id=str(item.get("id")),
            name=str(item.get("name") or ""),
            last_computed=epoch_to_datetime(item.get("lastComputed")),
            archived=bool(item.get("archived")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        )

    def __str__(self) -> str:
        return f"{self.name!r} (id {self.id})" if self.name else f"id {self.id}"


@dataclass
class DownloadPlan:
    """The cohorts to download now, and the others with the reason they are not."""

    download: list[Cohort] = field(default_factory=list)
    over_limit: list[Cohort] = field(default_factory=list)
    unchanged: list[Cohort] = field(default_factory=list)
    never_computed: list[Cohort] = field(default_factory=list)
    archived: list[Cohort] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    # Over Amplitude's maximum downloadable size: for cohort sync, never requested.
    too_large: list[Cohort] = field(default_factory=list)


def plan_downloads(
    cohorts: Iterable[Cohort],
    *,
    wanted_ids: tuple[str, ...] | None,
    bookmarks: Mapping[str, dt.datetime],
    incremental: bool,
    limit: int,
) -> DownloadPlan:
    """The plan: ``wanted_ids`` (None: every non-archived cohort), recomputed since their
    bookmark when ``incremental``, never-downloaded then longest-waiting first, ``limit`` max."""
    plan = DownloadPlan()
    listed = list(cohorts)
    if wanted_ids is not None:
        known = {cohort.id for cohort in listed}
        plan.unknown_ids = [cohort_id for cohort_id in wanted_ids if cohort_id not in known]
        listed = [cohort for cohort in listed if cohort.id in wanted_ids]
    candidates = []
    for cohort in listed:
        if wanted_ids is None and cohort.archived:
            plan.archived.append(cohort)
        elif cohort.last_computed is None:
            plan.never_computed.append(cohort)
        elif cohort.size is not None and cohort.size > MAX_COHORT_MEMBERS:
            plan.too_large.append(cohort)
        elif (
            incremental and cohort.id in bookmarks and cohort.last_computed <= bookmarks[cohort.id]
        ):
            plan.unchanged.append(cohort)
        else:
            candidates.append(cohort)
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    candidates.sort(
        key=lambda c: (
            c.id in bookmarks if incremental else False,
            bookmarks.get(c.id, oldest) if incremental else oldest,
            c.last_computed or oldest,
            c.id,
        )
    )
    plan.download = candidates[:limit]
    plan.over_limit = candidates[limit:]
    return plan


def poll_delay(polls: int, base: float, cap: float) -> float:
    """Seconds before the next status poll after ``polls`` polls: doubling, capped."""
    return max(0.01, min(cap, base * 2**polls))
