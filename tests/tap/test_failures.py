"""Failures that are not transient, as the user sees them: bad credentials, a plan without an
endpoint, invalid settings, a killed process. Export and REST faults (statuses, dropped and slow
connections, corrupt and truncated bodies, windows too large) are the fault matrix in
tests/reliability/test_tap_faults.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.tap.helpers import (
    KEY,
    SECRET,
    TAP,
    Emulator,
    base_config,
    make_emulator,
    run_tap,
    write_json,
)

EXPORT = "/api/2/export"


# The module's emulator (the ``emu`` fixture of tests/tap/conftest.py): make_emulator's arguments.
EMULATOR = {"events": 1200}


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.clear()
    emu.reset_requests()


def _day() -> tuple:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return start, start + dt.timedelta(hours=23)


def _assert_secret_hidden(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert KEY not in text


def test_bad_credentials_one_clear_fatal_message(emu: Emulator, tmp_path: Path) -> None:
    config = base_config(emu, secret_key="wrong-secret-value")
    run = run_tap(tmp_path, config, streams={"events", "events_list"})
    assert run.returncode == 1
    for setting in ("api_key", "secret_key", "data_region"):
        assert setting in run.stderr
    assert "HTTP 401" in run.stderr
    assert "Traceback" not in run.stderr
    assert "wrong-secret-value" not in run.stderr + run.stdout
    _assert_secret_hidden(run.stderr, run.stdout)


def test_group_by_country_refused_says_which_setting_to_change(tmp_path: Path) -> None:
    emulator = make_emulator(events=100, country_group_by_ok=False)
    try:
        run = run_tap(tmp_path, base_config(emulator), streams={"active_users"})
        assert run.returncode == 1
        assert "active_users_group_by_country" in run.stderr
        assert "false" in run.stderr
        fixed = run_tap(
            tmp_path,
            base_config(emulator, active_users_group_by_country=False),
            streams={"active_users"},
        )
        assert fixed.returncode == 0, fixed.stderr
        assert [r["date"] for r in fixed.records("active_users")] == ["2026-01-01"]
        assert "g" not in emulator.requests_to("/api/2/users")[-1].query
    finally:
        emulator.stop()


def test_cohorts_off_plan_warns_and_the_other_streams_continue(tmp_path: Path) -> None:
    emulator = make_emulator(events=100, cohorts_enabled=False, annotations_v3=False)
    try:
        run = run_tap(
            tmp_path, base_config(emulator), streams={"cohorts", "annotations", "events_list"}
        )
        assert run.returncode == 0, run.stderr
        assert run.records("cohorts") == []
        assert "Skipping the cohorts stream" in run.stderr
        assert run.records("events_list")
        # annotations: /api/3 answers 404 here, the legacy /api/2 shape is read instead
        annotations = run.records("annotations")
        assert annotations
        assert all(a["date"] for a in annotations)
        assert emulator.requests_to("/api/2/annotations")
    finally:
        emulator.stop()


def test_invalid_settings_fail_before_any_request(emu: Emulator, tmp_path: Path) -> None:
    for override, setting in (
        ({"data_region": "Mars"}, "data_region"),
        ({"end_date": "2025-01-01T00:00:00Z"}, "end_date"),
        ({"start_date": "yesterday"}, "start_date"),
    ):
        run = run_tap(tmp_path, base_config(emu, **override))
        assert run.returncode == 1, setting
        assert setting in run.stderr
        _assert_secret_hidden(run.stderr)
    assert emu.requests == []


def test_kill_9_mid_export_then_resume_loses_nothing(tmp_path: Path) -> None:
    """Kill the tap at a random point inside the export; resume from its last STATE."""
    emulator = make_emulator(events=3000)
    try:
        emulator.faults.slow(EXPORT, 0.4, times=100)  # one-hour windows, each slow to start
        config = write_json(tmp_path / "config.json", base_config(emulator, request_time_range=1))
        spool_dir = tmp_path / "tmp"
        spool_dir.mkdir()
        proc = subprocess.Popen(
            [TAP, "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "TMPDIR": str(spool_dir)},
        )
        assert proc.stdout is not None
        first: list[dict] = []
        states_seen = 0
        for line in proc.stdout:
            message = json.loads(line)
            first.append(message)
            if message["type"] == "STATE" and "events" in message["value"].get("bookmarks", {}):
                states_seen += 1
            if states_seen >= 6 and message["type"] == "RECORD":
                break  # mid-window: records of an unfinished window already out
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        assert list(spool_dir.iterdir()) == []  # the export spool has no name: gone with the tap
        last_state = [m["value"] for m in first if m["type"] == "STATE"][-1]
        killed_at = last_state["bookmarks"]["events"]["replication_key_value"]
        assert "2026-01-01T01" <= killed_at < "2026-01-02"

        emulator.faults.clear()
        second = run_tap(
            tmp_path,
            base_config(emulator, request_time_range=1),
            streams={"events"},
            state=last_state,
        )
        assert second.returncode == 0, second.stderr
        all_uuids = {e["uuid"] for e in emulator.project(KEY).export_events(*_day())}
        got = [
            m["record"]["uuid"] for m in first if m["type"] == "RECORD" and m["stream"] == "events"
        ] + [r["uuid"] for r in second.records("events")]
        assert set(got) == all_uuids  # no gap
        duplicates = len(got) - len(set(got))
        repeated = [r for r in second.records("events") if r["server_upload_time"] < killed_at]
        assert repeated == []  # finished windows are never read again
        assert duplicates <= 3000  # at most the unfinished window
        assert min(r["server_upload_time"] for r in second.records("events")) >= killed_at
    finally:
        emulator.stop()
