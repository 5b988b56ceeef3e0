"""Amplitude's Amazon S3 / Google Cloud Storage export, written into a bucket in Amplitude's
file layout, so the tap's storage source runs end to end against real object-storage servers.

Layout (amplitude/amplitude-docs, content/collections/destination-catalog/en/
google-cloud-storage.md, "Object key structure"; the S3 page names the files, not the folders,
and the same folders are used there):

- events: ``{prefix}/{projectId}/{projectId}_yyyy-MM-dd_H#{n}.json.gz``, ``n`` from 1 ("the first
  partition of data ... is in the file `187520_2020-01-25_17#1.json.gz`"), the hour's gzip
  files exactly as the Export API serves them (the same cached blobs);
- merged ids: ``{prefix}/-{orgId}/-{orgId}_yyyy-MM-dd_H.json.gz``, one JSON object per line with
  ``scope``, ``merge_time``, ``merge_server_time``, ``amplitude_id``, ``merged_amplitude_id``,
  for each hour in which ingested events merged two amplitude_ids;
- optionally a `complete` label for an hour without events ("Amplitude may label some files in
  your export as `complete`"; the label's form is undocumented: here an empty
  ``{projectId}_yyyy-MM-dd_H_complete`` object beside the hour's files).

Writing to s3:// or gs:// needs fsspec with s3fs or gcsfs (in the repository's .venv), imported
only here; file:///dir needs nothing. ``AWS_ENDPOINT_URL`` / ``STORAGE_EMULATOR_HOST`` point
them at a local server.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amplitude_emulator.timefmt import MS_PER_HOUR, hour_to_datetime

if TYPE_CHECKING:
    from amplitude_emulator.store import Project

__all__ = ["DEFAULT_ORG_ID", "StorageExportSummary", "add_parser", "run", "write_storage_export"]

DEFAULT_ORG_ID = 189524  # the org id of Amplitude's example file name


@dataclass
class StorageExportSummary:
    """What :func:`write_storage_export` wrote."""

    event_files: int = 0
    events: int = 0
    merged_files: int = 0
    merges: int = 0
    complete_labels: int = 0
    bytes: int = 0


def _hour_name(owner: int | str, hour: int) -> str:
    moment = hour_to_datetime(hour)
    return f"{owner}_{moment:%Y-%m-%d}_{moment.hour}"


def event_file_key(prefix: str, project_id: int, hour: int, partition: int) -> str:
    """``{prefix}/{projectId}/{projectId}_yyyy-MM-dd_H#{partition}.json.gz`` (partition from 1)."""
    return _join(prefix, str(project_id), f"{_hour_name(project_id, hour)}#{partition}.json.gz")


def merged_file_key(prefix: str, org_id: int, hour: int) -> str:
    """``{prefix}/-{orgId}/-{orgId}_yyyy-MM-dd_H.json.gz``."""
    return _join(prefix, f"-{org_id}", f"{_hour_name(f'-{org_id}', hour)}.json.gz")


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


class _Writer:
    """put(key, data) into ``s3://``, ``gs://`` (fsspec) or ``file://`` (stdlib)."""

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in {"s3", "gs", "file"}:
            raise SystemExit(
                f"--url: expected s3://bucket/prefix, gs://bucket/prefix or "
                f"file:///dir, got {url!r}"
            )
        self.scheme = scheme
        self._fs: Any = None
        if scheme == "file":
            self.root, self.prefix = rest, ""
            return
        bucket, _, self.prefix = rest.partition("/")
        self.root = bucket
        if scheme == "s3":
            from s3fs import S3FileSystem  # noqa: PLC0415 - only when writing to s3://

            self._fs = S3FileSystem(skip_instance_cache=True)
        else:
            from gcsfs.core import GCSFileSystem  # noqa: PLC0415 - only when writing to gs://

            token = "anon" if os.environ.get("STORAGE_EMULATOR_HOST") else None
            self._fs = GCSFileSystem(token=token, skip_instance_cache=True)
        if not self._fs.exists(bucket):
            self._fs.mkdir(bucket)

    def put(self, key: str, data: bytes) -> None:
        if self._fs is None:
            path = Path(self.root) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self._fs.pipe_file(f"{self.root}/{key}", data)


def write_storage_export(
    project: Project,
    url: str,
    *,
    start_hour: int | None = None,
    end_hour: int | None = None,
    org_id: int = DEFAULT_ORG_ID,
    merged_ids: bool = True,
    complete_labels: bool = False,
) -> StorageExportSummary:
    """Write ``project``'s export of hours ``[start_hour, end_hour]`` (inclusive; default: every
    hour with events) to ``url`` (``s3://bucket/prefix``, ``gs://bucket/prefix``,
    ``file:///dir``) in Amplitude's layout. Writing an hour again replaces its files (a backfill
    "de-duplicates overlapping data")."""
    writer = _Writer(url)
    prefix = writer.prefix
    summary = StorageExportSummary()
    hours = project.hours_with_data(start_hour or 0, end_hour if end_hour is not None else 1 << 40)
    for hour in hours:
        for blob in project.hour_blobs(hour):
            writer.put(
                event_file_key(prefix, project.project_id, hour, blob.partition + 1), blob.data
            )
            summary.event_files += 1
            summary.events += blob.events
            summary.bytes += len(blob.data)
    if complete_labels and hours:
        first = start_hour if start_hour is not None else hours[0]
        last = end_hour if end_hour is not None else hours[-1]
        for hour in sorted(set(range(first, last + 1)) - set(hours)):
            key = _join(
                prefix, str(project.project_id), f"{_hour_name(project.project_id, hour)}_complete"
            )
            writer.put(key, b"")
            summary.complete_labels += 1
    if merged_ids:
        by_hour: dict[int, list[str]] = defaultdict(list)
        for amplitude_id, merged_id, ms in project.merges():
            hour = ms // MS_PER_HOUR
            if (start_hour is None or hour >= start_hour) and (
                end_hour is None or hour <= end_hour
            ):
                by_hour[hour].append(
                    json.dumps(
                        {
                            "scope": project.project_id,
                            "merge_time": ms,
                            "merge_server_time": ms,
                            "amplitude_id": amplitude_id,
                            "merged_amplitude_id": merged_id,
                        }
                    )
                )
        for hour, lines in sorted(by_hour.items()):
            data = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
            writer.put(merged_file_key(prefix, org_id, hour), data)
            summary.merged_files += 1
            summary.merges += len(lines)
            summary.bytes += len(data)
    return summary


def add_parser(commands: Any) -> None:
    """``python -m amplitude_emulator export-storage``: generate a project, write its export."""
    parser = commands.add_parser(
        "export-storage",
        help="write a generated project's export into a bucket in Amplitude's S3/GCS layout",
    )
    parser.add_argument(
        "--url", required=True, help="s3://bucket/prefix, gs://bucket/prefix or file:///dir"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--start", default="2026-01-01T00", help="first hour, 2026-01-01T00")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--project-id", type=int, default=187520)
    parser.add_argument("--org-id", type=int, default=DEFAULT_ORG_ID)
    parser.add_argument(
        "--partition-events",
        type=int,
        default=50_000,
        help="events per file of an hour (Amplitude: one or several files)",
    )
    parser.add_argument(
        "--complete-labels",
        action="store_true",
        help="label hours without events with a `complete` object",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``export-storage``: print what was written as one JSON line."""
    from amplitude_emulator.emulator import Emulator  # noqa: PLC0415 - __main__ imports us
    from amplitude_emulator.generator import GeneratorSpec  # noqa: PLC0415

    project = Emulator().add_project(
        "key-std",
        "secret-std",
        project_id=args.project_id,
        partition_events=args.partition_events,
    )
    project.generate(
        GeneratorSpec(
            seed=args.seed, events=args.events, start=args.start, hours=args.hours, users=args.users
        )
    )
    project.warm()  # every hour's files built in worker processes first
    summary = write_storage_export(
        project, args.url, org_id=args.org_id, complete_labels=args.complete_labels
    )
    print(json.dumps({"url": args.url, **summary.__dict__}), flush=True)
    return 0
