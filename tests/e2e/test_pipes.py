"""`tap-amplitude | target-amplitude` as a real OS pipe: two subprocesses, the tap's stdout wired
to the target's stdin, replaying every event of one emulator project into another (standard ->
EU through the `/eu` base). The target recognises the tap's export-shaped `events` stream.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from amplitude_emulator import Emulator
from target_amplitude.mapping import insert_id_for

from tests.tap.helpers import END, START, TAP, select_catalog, write_json
from tests.target.helpers import FAST_RETRIES, TARGET, read_rejected

pytestmark = pytest.mark.e2e

IDENTIFY_TYPES = ("$identify", "$groupidentify")
# Export field -> ingest field it must arrive as, unchanged in value (reference section 8).
CARRIED = {
    "event_type": "event_type",
    "user_id": "user_id",
    "device_id": "device_id",
    "event_properties": "event_properties",
    "user_properties": "user_properties",
    "session_id": "session_id",
    "event_id": "event_id",
    "version_name": "app_version",
    "device_carrier": "carrier",
    "ip_address": "ip",
    "platform": "platform",
    "os_name": "os_name",
    "os_version": "os_version",
    "device_brand": "device_brand",
    "device_manufacturer": "device_manufacturer",
    "device_model": "device_model",
    "country": "country",
    "region": "region",
    "city": "city",
    "dma": "dma",
    "language": "language",
    "location_lat": "location_lat",
    "location_lng": "location_lng",
    "adid": "adid",
    "idfa": "idfa",
}


@dataclass
class Pipe:
    """What both ends of one `tap | target` run left behind."""

    tap_code: int
    target_code: int
    states: list[dict[str, t.Any]]
    tap_stderr: str
    target_stderr: str
    rejected: list[dict[str, t.Any]]


def _tap_config(emu: Emulator) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "secret_key": "secret-std",
        "api_url": emu.url("standard"),
        "start_date": START,
        "end_date": END,
        "request_time_range": 6,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
    }


def _target_config(emu: Emulator, tmp_path: Path) -> dict[str, t.Any]:
    return {
        "api_key": "key-eu",
        "api_url": emu.url("eu"),
        "data_region": "EU Residency Server",
        "rejected_records_path": str(tmp_path / "rejected.jsonl"),
        **FAST_RETRIES,
    }


def run_pipe(tmp_path: Path, emu: Emulator, streams: set[str] | None) -> Pipe:
    """`tap-amplitude --config ... [--catalog ...] | target-amplitude --config ...`."""
    tap_config = write_json(tmp_path / "tap-config.json", _tap_config(emu))
    target_config = write_json(tmp_path / "target-config.json", _target_config(emu, tmp_path))
    tap_command = [TAP, "--config", str(tap_config)]
    if streams is not None:
        tap_command += ["--catalog", str(select_catalog(tmp_path, tap_config, streams))]
    tap_err, target_err = tmp_path / "tap.err", tmp_path / "target.err"
    with tap_err.open("w") as tap_log, target_err.open("w") as target_log:
        tap = subprocess.Popen(tap_command, stdout=subprocess.PIPE, stderr=tap_log)
        target = subprocess.Popen(
            [TARGET, "--config", str(target_config)],
            stdin=tap.stdout,
            stdout=subprocess.PIPE,
            stderr=target_log,
        )
        assert tap.stdout is not None
        tap.stdout.close()  # the target holds the only read end: the tap sees EPIPE if it dies
        out, _ = target.communicate(timeout=300)
        tap.wait(timeout=60)
    return Pipe(
        tap_code=tap.returncode,
        target_code=target.returncode,
        states=[json.loads(line) for line in out.decode().splitlines() if line.strip()],
        tap_stderr=tap_err.read_text(),
        target_stderr=target_err.read_text(),
        rejected=read_rejected(tmp_path / "rejected.jsonl"),
    )


def _epoch_ms(raw: str) -> int:
    parsed = dt.datetime.fromisoformat(raw).replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def test_replay_copies_every_event_once_with_its_properties(
    emulator: Emulator, tmp_path: Path
) -> None:
    source = list(emulator.project("key-std").export_events("20260101T00", "20260101T23"))
    assert len(source) == 2000
    # The insert_id each event must arrive with: its own, or the target's hash of its uuid
    # (the tap's key property) and its time.
    expected = {
        e.get("$insert_id")
        or insert_id_for("events", {"uuid": e["uuid"]}, ["uuid"], _epoch_ms(e["event_time"])): e
        for e in source
    }
    assert len(expected) == len(source)

    pipe = run_pipe(tmp_path, emulator, {"events"})
    assert pipe.tap_code == 0, pipe.tap_stderr[-3000:]
    assert pipe.target_code == 0, pipe.target_stderr[-3000:]
    assert pipe.rejected == []
    final = pipe.states[-1]["bookmarks"]["events"]["replication_key_value"]
    assert final == "2026-01-02T00:00:00.000000Z"  # the target passed the tap's STATE on

    stored = emulator.project("key-eu").ingested
    assert sorted(e["insert_id"] for e in stored) == sorted(expected)  # each once, none extra
    assert emulator.project("key-std").ingested == []  # nothing went to the source project
    for event in stored:
        original = expected[event["insert_id"]]
        identify = original["event_type"] in IDENTIFY_TYPES
        for export_key, ingest_key in CARRIED.items():
            if original.get(export_key) is not None:
                sent = event[ingest_key]
                if identify and export_key == "user_properties" and original[export_key]:
                    sent = sent["$set"]  # a $identify replays its properties as $set
                assert sent == original[export_key], (export_key, event["insert_id"])
        assert event["time"] == _epoch_ms(original["event_time"])
        # Historical properties never overwrite live ones, except through $identify events.
        assert event.get("$skip_user_properties_sync") is (None if identify else True)
        assert "uuid" not in event
        assert "amplitude_id" not in event

    (tmp_path / "again").mkdir()
    again = run_pipe(tmp_path / "again", emulator, {"events"})
    assert again.tap_code == 0, again.tap_stderr[-3000:]
    assert again.target_code == 0, again.target_stderr[-3000:]
    assert len(emulator.project("key-eu").ingested) == len(source)  # a replay adds nothing
    assert emulator.requests_to("/batch")[-1].region == "eu"


def _ingest_identify_history(emulator: Emulator) -> list[dict[str, t.Any]]:
    """Load profile history into the source project the way the official SDKs do: `$identify`
    events (about 1 in 20 events, as in a realistic project) among ordinary events, at
    2026-01-01 12:00 UTC, through /batch. Returns the events sent."""
    base = dt.datetime(2026, 1, 1, 11, tzinfo=dt.UTC)
    events: list[dict[str, t.Any]] = []
    for n in range(400):
        user = f"replay-user-{n % 10:02d}"
        event: dict[str, t.Any] = {
            "user_id": user,
            "device_id": f"replay-device-{n % 10:02d}",
            "time": int((base + dt.timedelta(seconds=n)).timestamp() * 1000),
            "insert_id": f"replay-{n:04d}",
        }
        if n // 10 in (0, 20):  # each user: a first profile, then a change (5% of events)
            event["event_type"] = "$identify"
            event["user_properties"] = {"$set": {"plan": f"plan-{n // 20}", "seats": n}}
        else:
            event["event_type"] = "Viewed Page"
            event["event_properties"] = {"n": n}
        events.append(event)
    clock = emulator.clock
    emulator.clock = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    try:
        response = requests.post(
            f"{emulator.url('standard')}/batch",
            json={"api_key": "key-std", "events": events},
            timeout=30,
        )
    finally:
        emulator.clock = clock
    assert response.status_code == 200, response.text
    return events


def test_replay_of_a_project_with_identify_calls_reproduces_its_profiles(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Issue 11, done when: every event, `$identify` included, copied once with its insert_id;
    the destination's profiles match the source's."""
    sent = _ingest_identify_history(emulator)
    source_project = emulator.project("key-std")
    source = list(source_project.export_events("20260101T00", "20260101T23"))
    identifies = [e for e in source if e["event_type"] == "$identify"]
    assert len(identifies) == sum(e["event_type"] == "$identify" for e in sent) == 20
    source_profiles = {
        u: dict(p) for u, p in source_project.users.items() if u.startswith("replay")
    }
    assert len(source_profiles) == 10
    assert all(p for p in source_profiles.values()), source_profiles

    pipe = run_pipe(tmp_path, emulator, {"events"})
    assert pipe.tap_code == 0, pipe.tap_stderr[-3000:]
    assert pipe.target_code == 0, pipe.target_stderr[-3000:]
    assert pipe.rejected == []
    stored = emulator.project("key-eu").ingested
    assert len(stored) == len(source)
    assert sorted(e["insert_id"] for e in stored if e["event_type"] == "$identify") == sorted(
        e["$insert_id"] for e in identifies
    )
    assert len({e["insert_id"] for e in stored}) == len(stored)  # each event once
    destination = emulator.project("key-eu").users
    for user_id, profile in source_profiles.items():
        assert destination.get(user_id) == profile, user_id


def test_all_six_streams_unselected_fail_at_the_first_non_event_schema(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Without a catalog the tap sends its five dashboard/project streams too. The target
    cannot map them: it fails at the first such SCHEMA, names it and the setting, sends
    nothing and claims no STATE; the tap, its stdout closed, stops too."""
    pipe = run_pipe(tmp_path, emulator, None)
    assert pipe.target_code == 1
    assert pipe.tap_code != 0
    assert "stopped reading" in pipe.tap_stderr, pipe.tap_stderr[-2000:]
    assert "Stream 'active_users' has no entry in stream_mappings" in pipe.target_stderr
    assert "Traceback" not in pipe.target_stderr
    assert pipe.states == []
    assert emulator.project("key-eu").ingested == []
    assert emulator.requests_to("/batch") == []
