"""The emulator's S3/GCS export writer: Amplitude's file layout, into a local directory."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

from amplitude_emulator import Emulator, GeneratorSpec
from amplitude_emulator.storage_export import write_storage_export


def _project(partition_events: int = 50_000) -> tuple[Emulator, object]:
    emu = Emulator()
    project = emu.add_project("k", "s", project_id=187520, partition_events=partition_events)
    project.generate(GeneratorSpec(seed=7, events=300, start="2026-01-01T00", hours=4, users=20))
    return emu, project


def test_event_files_are_named_and_partitioned_as_amplitude_documents(tmp_path: Path) -> None:
    _, project = _project(partition_events=30)
    summary = write_storage_export(project, f"file://{tmp_path}/events")  # type: ignore[arg-type]
    names = sorted(p.name for p in (tmp_path / "events" / "187520").iterdir())
    assert "187520_2026-01-01_0#1.json.gz" in names  # H not padded, partitions from 1
    assert "187520_2026-01-01_0#2.json.gz" in names
    assert not any("#0" in name for name in names)
    lines = [
        json.loads(line)
        for name in names
        for line in gzip.decompress((tmp_path / "events" / "187520" / name).read_bytes())
        .decode()
        .splitlines()
    ]
    assert summary.events == len(lines) == 300
    exported = list(project.export_events("2026-01-01T00", "2026-01-01T03"))  # type: ignore[attr-defined]
    assert sorted(e["uuid"] for e in lines) == sorted(e["uuid"] for e in exported)


def test_merged_ids_and_complete_labels(tmp_path: Path) -> None:
    emu, project = _project()
    emu.clock = dt.datetime(2026, 1, 1, 9, 10, tzinfo=dt.UTC)
    project.ingest(  # type: ignore[attr-defined]
        [
            {"user_id": "u", "device_id": "d1", "event_type": "a", "insert_id": "1"},
            {"device_id": "d2", "event_type": "b", "insert_id": "2"},
            {"user_id": "u", "device_id": "d2", "event_type": "c", "insert_id": "3"},
        ],
        "/batch",
    )
    (merge,) = project.merges()  # type: ignore[attr-defined]
    summary = write_storage_export(
        project,  # type: ignore[arg-type]
        f"file://{tmp_path}",
        start_hour=int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) // 3600,
        end_hour=int(dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC).timestamp()) // 3600,
        complete_labels=True,
    )
    path = tmp_path / "-189524" / "-189524_2026-01-01_9.json.gz"
    (row,) = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    assert set(row) == {
        "scope",
        "merge_time",
        "merge_server_time",
        "amplitude_id",
        "merged_amplitude_id",
    }
    assert (row["amplitude_id"], row["merged_amplitude_id"], row["merge_time"]) == merge
    assert summary.merged_files == 1
    # Hours 4 to 8 and 10 have no events: each gets a `complete` label.
    labels = sorted(p.name for p in (tmp_path / "187520").iterdir() if "complete" in p.name)
    assert labels[0] == "187520_2026-01-01_10_complete"
    assert summary.complete_labels == len(labels) == 6
