"""Amplitude's export file names, recognised wherever they sit under the prefix (pure).

From Amplitude's docs (amplitude/amplitude-docs, content/collections/destination-catalog/en/
amazon-s3.md and google-cloud-storage.md):

- events: "File names have the following syntax, where the time represents when the data was
  uploaded to Amplitude servers in UTC (for example, `server_upload_time`):
  `projectID_yyyy-MM-dd_H#partitionInteger.json.gz`", e.g. ``187520_2020-01-25_17#1.json.gz``;
- merged Amplitude ids: "`-OrgID_yyyy-MM-dd_H.json.gz`", e.g. ``-189524_2020-01-25_17.json.gz``;
  "Some legacy organizations may see merged ID exports with your app ID instead of org ID. In
  this case, the directory and filename use `{appId}` without the leading `-`" (GCS page);
- "Amplitude may label some files in your export as `complete`": the label's form is not
  documented; a name that starts like an hour's file and contains ``complete`` is taken as one.

The folders above the files are documented for GCS only (``{prefix}/{appId}/`` and
``{prefix}/-{orgId}/``): files are found by name at any depth, never by folder. ``H`` is read
with or without a leading zero (Java's ``H``: no padding).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

__all__ = ["ExportObject", "FileKind", "classify"]

_HOUR = r"(?P<date>\d{4}-\d{2}-\d{2})_(?P<hour>\d{1,2})"
_EVENTS = re.compile(rf"^(?P<id>\d+)_{_HOUR}#(?P<partition>\d+)\.json\.gz$")
_MERGED = re.compile(rf"^(?P<id>-?\d+)_{_HOUR}\.json\.gz$")
_COMPLETE = re.compile(rf"^(?P<id>-?\d+)_{_HOUR}(?!\d).*complete", re.IGNORECASE)


class FileKind(enum.Enum):
    """What an object under the prefix is."""

    EVENTS = "events"
    MERGED_IDS = "merged_ids"
    COMPLETE = "complete"


@dataclass(frozen=True, order=True)
class ExportObject:
    """A recognised object: its hour, kind, the id in its name and its place in the hour."""

    hour: dt.datetime
    kind: FileKind
    owner_id: str  # project id (events), org id with '-' or legacy app id (merged ids)
    partition: int
    path: str
    size: int


def _hour(date: str, hour: str) -> dt.datetime | None:
    try:
        day = dt.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    value = int(hour)
    return day + dt.timedelta(hours=value) if value < 24 else None


def classify(path: str, size: int) -> ExportObject | None:
    """The export object named by ``path`` (its last component), or None when the name is not
    one of Amplitude's export files."""
    name = path.rsplit("/", 1)[-1]
    for kind, pattern in (
        (FileKind.EVENTS, _EVENTS),
        (FileKind.MERGED_IDS, _MERGED),
        (FileKind.COMPLETE, _COMPLETE),
    ):
        match = pattern.match(name)
        if match is None:
            continue
        hour = _hour(match["date"], match["hour"])
        if hour is None:
            return None
        partition = int(match["partition"]) if kind is FileKind.EVENTS else 0
        return ExportObject(hour, kind, match["id"], partition, path, size)
    return None
