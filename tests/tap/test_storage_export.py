"""export_source: storage against real object-storage servers (moto's S3 server, a GCS
emulator), with the emulator's export written in Amplitude's file layout."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from amplitude_emulator.storage_export import event_file_key, write_storage_export
from amplitude_emulator.timefmt import MS_PER_HOUR
from gcsfs.core import GCSFileSystem
from s3fs import S3FileSystem

from tests.tap.helpers import KEY, Run, base_config, make_emulator, run_tap
from tests.tap.storage_servers import Store, gcs_server, s3_server, store

__all__ = ["gcs_server", "s3_server", "store"]  # fixtures, imported for pytest

HOUR0 = 1767225600000 // MS_PER_HOUR  # 2026-01-01T00


def storage_config(emu: Any, url: str, **overrides: Any) -> dict[str, Any]:
    return base_config(emu, export_source="storage", export_storage_url=url, **overrides)


def record_lines(run: Run, stream: str = "events") -> list[dict[str, Any]]:
    """The RECORD messages of ``stream`` as written, minus time_extracted (the time of reading)."""
    lines = []
    for line in run.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] == stream:
            message.pop("time_extracted", None)
            lines.append(message)
    return lines


def _fs(url: str) -> Any:
    if url.startswith("s3://"):
        return S3FileSystem(skip_instance_cache=True)
    return GCSFileSystem(token="anon", skip_instance_cache=True)


def _key_path(url: str, key: str) -> str:
    return f"{url.split('://', 1)[1].split('/', 1)[0]}/{key}"


def test_storage_gives_the_records_of_the_export_api_and_a_second_run_reads_nothing(
    tmp_path: Path, store: Store
) -> None:
    emu = make_emulator(events=3000, hours=24, partition_events=40)
    try:
        url = store.new_url()
        written = write_storage_export(emu.project(KEY), url, complete_labels=True)
        assert written.event_files > 24  # several files per hour: #1, #2, ...
        api = run_tap(tmp_path, base_config(emu), streams={"events"})
        assert api.returncode == 0, api.stderr[-2000:]
        first = run_tap(tmp_path, storage_config(emu, url), streams={"events"})
        assert first.returncode == 0, first.stderr[-2000:]
        assert len(record_lines(api)) == 3000
        assert record_lines(first) == record_lines(api)
        # One file at a time (no read-ahead threads): the same lines.
        serial = run_tap(
            tmp_path,
            storage_config(emu, url, export_storage_prefetch_files=0),
            streams={"events"},
        )
        assert record_lines(serial) == record_lines(api)
        assert first.bookmark() == api.bookmark() == "2026-01-02T00:00:00.000000Z"
        # Per-hour bookmarks: one STATE per hour read.
        assert len({s["bookmarks"]["events"]["replication_key_value"] for s in first.states}) == 24
        second = run_tap(
            tmp_path, storage_config(emu, url), streams={"events"}, state=first.states[-1]
        )
        assert second.returncode == 0, second.stderr[-2000:]
        assert record_lines(second) == []
        assert second.bookmark() == first.bookmark()
    finally:
        emu.stop()


def test_an_hour_whose_files_appear_after_a_run_is_read_by_the_next(
    tmp_path: Path, s3_server: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    emu = make_emulator(events=2400, hours=24)
    project = emu.project(KEY)
    try:
        url = s3_server.new_url("late")
        write_storage_export(project, url)
        fs = _fs(url)
        prefix = url.split("://", 1)[1].split("/", 1)[1]
        late = HOUR0 + 22
        late_key = _key_path(url, event_file_key(prefix, project.project_id, late, 1))
        late_data = fs.cat_file(late_key)
        fs.rm_file(late_key)
        last_key = _key_path(url, event_file_key(prefix, project.project_id, HOUR0 + 23, 1))
        last_data = fs.cat_file(last_key)
        fs.rm_file(last_key)
        config = storage_config(emu, url, end_date=None)
        # 2026-01-02T03:30Z: lag 3 ends the run at 2026-01-02T00; hours from 22:00 (now minus
        # lag plus lookback) are still recent and read again next time.
        now = "2026-01-02T03:30:00Z"
        first = run_tap(tmp_path, config, streams={"events"}, now=now)
        assert first.returncode == 0, first.stderr[-2000:]
        hours = {r["server_upload_time"][:13] for r in first.records("events")}
        assert "2026-01-01T22" not in hours
        assert "2026-01-01T23" not in hours
        # The export's newest hour with files is 21: the bookmark stops there, however late
        # the clock, until Amplitude writes the next hours.
        assert first.bookmark() == "2026-01-01T22:00:00.000000Z"
        fs.pipe_file(late_key, late_data)
        fs.pipe_file(last_key, last_data)
        second = run_tap(tmp_path, config, streams={"events"}, state=first.states[-1], now=now)
        assert second.returncode == 0, second.stderr[-2000:]
        again = [r["server_upload_time"][:13] for r in second.records("events")]
        expected = [
            e["server_upload_time"][:13].replace(" ", "T")
            for e in project.export_events("2026-01-01T22", "2026-01-01T23")
        ]
        assert again == expected
        assert {"2026-01-01T22", "2026-01-01T23"} <= set(again)
        assert second.bookmark() == "2026-01-02T00:00:00.000000Z"
        # A middle hour missing while later hours exist is read again while it is recent.
        fs.rm_file(late_key)
        third = run_tap(tmp_path, config, streams={"events"}, state=second.states[-1], now=now)
        assert "2026-01-01T22" not in {
            r["server_upload_time"][:13] for r in third.records("events")
        }
        fs.pipe_file(late_key, late_data)
        fourth = run_tap(tmp_path, config, streams={"events"}, state=third.states[-1], now=now)
        assert "2026-01-01T22" in {r["server_upload_time"][:13] for r in fourth.records("events")}
    finally:
        emu.stop()


def _merging_events(count: int) -> list[dict[str, Any]]:
    """Anonymous devices' events, then the same devices with a user_id already known: each
    device's amplitude_id merges into the user's."""
    events = []
    for index in range(count):
        events.append(
            {
                "user_id": f"user-{index}",
                "device_id": f"known-{index}",
                "event_type": "Login",
                "insert_id": f"a{index}",
            }
        )
        events.append(
            {"device_id": f"anon-{index}", "event_type": "Page View", "insert_id": f"b{index}"}
        )
        events.append(
            {
                "user_id": f"user-{index}",
                "device_id": f"anon-{index}",
                "event_type": "Login",
                "insert_id": f"c{index}",
            }
        )
    return events


def test_merged_ids_come_from_the_merged_id_files(tmp_path: Path, store: Store) -> None:
    emu = make_emulator(events=100, hours=3)
    project = emu.project(KEY)
    try:
        emu.clock = dt.datetime(2026, 1, 1, 1, 30, tzinfo=dt.UTC)
        project.ingest(_merging_events(5), "/batch")
        merges = project.merges()
        assert len(merges) == 5
        url = store.new_url()
        summary = write_storage_export(project, url)
        assert summary.merged_files == 1
        run = run_tap(tmp_path, storage_config(emu, url), streams={"merged_ids"})
        assert run.returncode == 0, run.stderr[-2000:]
        rows = run.records("merged_ids")
        assert [
            (r["amplitude_id"], r["merged_amplitude_id"], r["merge_time"]) for r in rows
        ] == merges
        assert {r["server_upload_hour"] for r in rows} == {"2026-01-01T01:00:00.000000Z"}
        assert run.bookmark("merged_ids") == "2026-01-01T02:00:00.000000Z"
        again = run_tap(
            tmp_path, storage_config(emu, url), streams={"merged_ids"}, state=run.states[-1]
        )
        assert again.returncode == 0
        assert again.records("merged_ids") == []
        api = run_tap(tmp_path, base_config(emu), streams={"merged_ids"})
        assert api.returncode == 0
        assert api.records("merged_ids") == []
        assert (
            "merged_ids: skipped: merged Amplitude ids come only from Amplitude's Amazon S3"
            in api.stderr
        )
    finally:
        emu.stop()
