"""The export's objects under the prefix, grouped by hour (pure: built from a listing)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tap_amplitude.storage.naming import ExportObject, FileKind, classify
from tap_amplitude.windows import HOUR, Window

__all__ = ["HourFiles", "ProjectChoiceError", "StorageListing", "build_listing"]


class ProjectChoiceError(ValueError):
    """The prefix holds the event files of several projects and none was chosen, or not the
    chosen one; the message lists the project ids found."""


@dataclass(frozen=True)
class HourFiles:
    """One hour to read and its files, in partition order (none: an empty hour)."""

    window: Window
    files: tuple[ExportObject, ...]


@dataclass
class StorageListing:
    """What a listing of the prefix found."""

    events: dict[dt.datetime, list[ExportObject]] = field(default_factory=dict)
    merged_ids: dict[dt.datetime, list[ExportObject]] = field(default_factory=dict)
    complete: set[dt.datetime] = field(default_factory=set)
    project_ids: set[str] = field(default_factory=set)
    objects: int = 0
    other_examples: list[str] = field(default_factory=list)

    @property
    def recognised(self) -> int:
        """Objects named like Amplitude's export files (events, merged ids, `complete`)."""
        return (
            sum(len(v) for v in self.events.values())
            + sum(len(v) for v in self.merged_ids.values())
            + len(self.complete)
        )

    def frontier(self, kind: FileKind) -> dt.datetime | None:
        """The end of the newest hour Amplitude has written files (or a `complete` label) for:
        hours from there on are not exported yet, whatever the clock says."""
        files = self.events if kind is FileKind.EVENTS else self.merged_ids
        hours = set(files) | (self.complete if kind is FileKind.EVENTS else set())
        return max(hours) + HOUR if hours else None

    def hours(self, kind: FileKind, start: dt.datetime, end: dt.datetime) -> Iterator[HourFiles]:
        """Every hour of ``[start, end)`` with its files of ``kind`` (hours without files
        included: their bookmark moves too)."""
        files = self.events if kind is FileKind.EVENTS else self.merged_ids
        hour = start
        while hour < end:
            yield HourFiles(Window(hour, hour + HOUR), tuple(files.get(hour, ())))
            hour += HOUR


def build_listing(objects: Iterable[tuple[str, int]], project_id: str | None) -> StorageListing:
    """Group ``(path, size)`` objects by hour; keep the events of ``project_id`` (or of the one
    project found).

    Raises:
        ProjectChoiceError: several projects' event files and no ``project_id``, or none of
            ``project_id``'s.
    """
    listing = StorageListing()
    events: dict[str, dict[dt.datetime, list[ExportObject]]] = defaultdict(
        lambda: defaultdict(list)
    )
    merged: dict[dt.datetime, list[ExportObject]] = defaultdict(list)
    for path, size in objects:
        listing.objects += 1
        found = classify(path, size)
        if found is None:
            if len(listing.other_examples) < 3:
                listing.other_examples.append(path)
            continue
        if found.kind is FileKind.EVENTS:
            events[found.owner_id][found.hour].append(found)
        elif found.kind is FileKind.MERGED_IDS:
            merged[found.hour].append(found)
        else:
            listing.complete.add(found.hour)
    listing.project_ids = set(events)
    if project_id is not None:
        chosen = events.get(project_id, {})
        if events and not chosen:
            raise ProjectChoiceError(
                f"no event files of project {project_id} under the prefix; it holds files of "
                f"project(s) {', '.join(sorted(events))}"
            )
    elif len(events) > 1:
        raise ProjectChoiceError(
            f"the prefix holds event files of several projects ({', '.join(sorted(events))}); "
            "set export_storage_project_id to the one to read"
        )
    else:
        chosen = next(iter(events.values()), {})
    listing.events = {hour: sorted(files) for hour, files in chosen.items()}
    listing.merged_ids = {hour: sorted(files) for hour, files in merged.items()}
    return listing
