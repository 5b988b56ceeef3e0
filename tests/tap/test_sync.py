"""Syncs against the emulator: every stream's records equal what the emulator holds, state."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import jsonschema
import pytest
import requests
from tap_amplitude.streams.base import load_schema

from tests.tap.helpers import (
    EU_KEY,
    EU_SECRET,
    SECRET,
    Emulator,
    GeneratorSpec,
    base_config,
    run_tap,
)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TIMESTAMPS = (
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_received_time",
    "server_upload_time",
    "processed_time",
    "user_creation_time",
)


@pytest.fixture(scope="module")
def full_run(emu: Emulator, tmp_path_factory: pytest.TempPathFactory):
    return run_tap(tmp_path_factory.mktemp("full"), base_config(emu, request_time_range=6))


def _project(emu: Emulator):
    return emu.project(base_config(emu)["api_key"])


def test_events_equal_what_the_emulator_holds(emu: Emulator, full_run) -> None:
    assert full_run.returncode == 0, full_run.stderr
    records = full_run.records("events")
    held = list(_project(emu).export_events(*_hours()))
    assert len(held) == 2000
    assert sorted(r["uuid"] for r in records) == sorted(e["uuid"] for e in held)
    by_uuid = {e["uuid"]: e for e in held}
    schema = load_schema("events")
    for record in records:
        original = by_uuid[record["uuid"]]
        for key, value in original.items():  # every key kept, nested objects untouched
            if key in TIMESTAMPS:
                assert (value in (None, "")) == (record[key] is None)
                assert record[key] is None or RFC3339.match(record[key]), record[key]
                assert record[key] is None or record[key][:19].replace("T", " ") == value[:19]
            else:
                assert record[key] == value, key
    for record in records[:300]:
        jsonschema.validate(record, schema)


def _hours() -> tuple:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return start, start + dt.timedelta(hours=23)


def test_state_after_each_window_and_windows_requested_in_order(emu: Emulator, full_run) -> None:
    bookmarks = [
        s["bookmarks"]["events"].get("replication_key_value")
        for s in full_run.states
        if "events" in s.get("bookmarks", {})
    ]
    assert list(dict.fromkeys(b for b in bookmarks if b)) == [
        "2026-01-01T06:00:00.000000Z",
        "2026-01-01T12:00:00.000000Z",
        "2026-01-01T18:00:00.000000Z",
        "2026-01-02T00:00:00.000000Z",
    ]
    # Every window requested once; prefetched windows (export_prefetch_windows) are requested
    # concurrently, so their arrival order at the server is not the plan's (bookmarks above are).
    starts = [r.query["start"] for r in emu.requests_to("/api/2/export")][:4]
    assert sorted(starts) == ["20260101T00", "20260101T06", "20260101T12", "20260101T18"]
    # a STATE is flushed right after its window's records: records of window 1 precede state 1
    kinds = [m["type"] for m in full_run.messages]
    assert kinds.index("STATE") < len(kinds) - 1


def test_dashboard_and_project_streams_equal_the_emulator(emu: Emulator, full_run) -> None:
    auth = (base_config(emu)["api_key"], SECRET)
    users = requests.get(
        emu.url() + "/api/2/users",
        auth=auth,
        timeout=10,
        params={"start": "20260101", "end": "20260101", "m": "active", "i": "1", "g": "country"},
    ).json()
    labels, series = users["data"]["seriesLabels"], users["data"]["series"]
    active = {r["date"]: r["statistics"] for r in full_run.records("active_users")}
    assert active == {
        "2026-01-01": {label: row[0] for label, row in zip(labels, series, strict=True)}
    }
    sessions = full_run.records("average_session_length")
    assert [r["date"] for r in sessions] == ["2026-01-01"]
    assert sessions[0]["length"] > 0
    project = _project(emu)
    assert sorted(r["id"] for r in full_run.records("annotations")) == sorted(
        a["id"] for a in project.annotations()
    )
    assert sorted(r["id"] for r in full_run.records("cohorts")) == sorted(
        c["id"] for c in project.cohorts()
    )
    cohort = full_run.records("cohorts")[0]
    original = next(c for c in project.cohorts() if c["id"] == cohort["id"])
    assert cohort["definition"] == original["definition"]  # nested keys never dropped
    assert {r["value"] for r in full_run.records("events_list")} >= set(
        GeneratorSpec().event_types[:3]
    )
    for stream in (
        "active_users",
        "average_session_length",
        "annotations",
        "cohorts",
        "events_list",
    ):
        for record in full_run.records(stream):
            jsonschema.validate(record, load_schema(stream))
    for record in full_run.records("annotations"):
        for key in ("start", "end"):
            assert record.get(key) is None or RFC3339.match(record[key])


def test_second_run_from_the_emitted_state_has_no_duplicates(
    emu: Emulator,
    full_run,
    tmp_path: Path,
) -> None:
    emu.reset_requests()
    second = run_tap(tmp_path, base_config(emu), state=full_run.states[-1])
    assert second.returncode == 0, second.stderr
    assert second.records("events") == []
    assert emu.requests_to("/api/2/export") == []
    # dashboard streams re-read the bookmarked day (same key: downstream upserts converge)
    assert [r["date"] for r in second.records("active_users")] == ["2026-01-01"]


def test_start_date_later_than_the_bookmark_wins(emu: Emulator, tmp_path: Path) -> None:
    emu.reset_requests()
    state = {
        "bookmarks": {
            "events": {
                "replication_key": "server_upload_time",
                "replication_key_value": "2026-01-01T02:00:00.000000Z",
            }
        }
    }
    run = run_tap(
        tmp_path,
        base_config(emu, start_date="2026-01-01T20:00:00Z"),
        streams={"events"},
        state=state,
    )
    assert run.returncode == 0, run.stderr
    assert [r.query["start"] for r in emu.requests_to("/api/2/export")] == ["20260101T20"]
    assert min(r["server_upload_time"] for r in run.records("events")) >= "2026-01-01T20"


def test_future_start_date_requests_nothing_warns_and_exits_0(
    emu: Emulator, tmp_path: Path
) -> None:
    emu.reset_requests()
    run = run_tap(
        tmp_path,
        base_config(emu, start_date="2099-01-01T00:00:00Z", end_date=None),
        streams={"events"},
    )
    assert run.returncode == 0, run.stderr
    assert run.records("events") == []
    assert emu.requests_to("/api/2/export") == []
    assert "nothing to export" in run.stderr


def test_eu_region_through_the_eu_base(tmp_path: Path) -> None:
    emulator = Emulator()
    project = emulator.add_project(api_key=EU_KEY, secret_key=EU_SECRET, region="eu", project_id=9)
    project.generate(GeneratorSpec(seed=3, events=300, start="2026-01-01T00", hours=24, users=20))
    emulator.start()
    try:
        config = {
            **base_config(emulator),
            "api_key": EU_KEY,
            "secret_key": EU_SECRET,
            "data_region": "EU Residency Server",
            "api_url": emulator.url("eu"),
        }
        run = run_tap(tmp_path, config, streams={"events", "events_list"})
        assert run.returncode == 0, run.stderr
        assert len({r["uuid"] for r in run.records("events")}) == 300
        assert {r.region for r in emulator.requests_to("/api/2/export")} == {"eu"}
        # the same key against the standard base is refused: the message points at the region
        wrong = run_tap(
            tmp_path, {**config, "api_url": emulator.url("standard")}, streams={"events"}
        )
        assert wrong.returncode == 1
        assert "data_region" in wrong.stderr
    finally:
        emulator.stop()


def test_dashboard_history_is_read_in_ranges_of_90_days(emu: Emulator, tmp_path: Path) -> None:
    emu.reset_requests()
    run = run_tap(
        tmp_path,
        base_config(emu, start_date="2025-09-01T00:00:00Z"),
        streams={"average_session_length"},
    )
    assert run.returncode == 0, run.stderr
    ranges = [
        (r.query["start"], r.query["end"]) for r in emu.requests_to("/api/2/sessions/average")
    ]
    assert ranges == [("20250901", "20251129"), ("20251130", "20260101")]
    days = [r["date"] for r in run.records("average_session_length")]
    assert len(days) == len(set(days)) == 123  # 2025-09-01 .. 2026-01-01, each day once
