"""No hour or day is marked done before Amplitude has finished it (issue 10).

The emulator models the Export API's loading delay (``export_lag_hours``: an hour is partial
while it loads) and the project's time zone; the tap runs with its clock frozen at the
emulator's "now".
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from tests.tap.helpers import (
    KEY,
    SECRET,
    TAP,
    Emulator,
    GeneratorSpec,
    Run,
    write_json,
)
from tests.tap.helpers import run_tap as _run_tap

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 2, 6, tzinfo=UTC)  # the first run; data from 2026-01-01T00 on


def _emulator(**project: object) -> Emulator:
    emu = Emulator()
    emu.add_project(
        api_key=KEY,
        secret_key=SECRET,
        project_id=187520,
        spec=GeneratorSpec(seed=11, events=3000, start="2026-01-01T00", hours=36, users=80),
        **project,  # type: ignore[arg-type]
    )
    return emu.start()


def _config(emu: Emulator, **overrides: object) -> dict:
    return {
        "api_key": KEY,
        "secret_key": SECRET,
        "api_url": emu.url(),
        "start_date": "2026-01-01T00:00:00Z",
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **overrides,
    }


def _run(tmp: Path, emu: Emulator, at: dt.datetime, state: dict | None, **config: object) -> Run:
    emu.clock = at
    run = _run_tap(tmp, _config(emu, **config), streams={"events"}, state=state, now=at.isoformat())
    assert run.returncode == 0, run.stderr
    return run


def _two_runs_while_amplitude_is_late(tmp: Path, **config: object) -> tuple[set[str], set[str]]:
    """Run 1 while Amplitude runs 3 hours late (recent hours still loading), run 2 an hour
    later once it caught up. Returns (uuids emitted by either run, uuids before the final
    bookmark)."""
    emu = _emulator(export_lag_hours=5)
    try:
        project = emu.project(KEY)
        first = _run(tmp, emu, T0, None, **config)
        assert emu.requests_to("/api/2/export"), "the first run exported nothing"
        project.export_lag_hours = 2  # Amplitude is back to its documented delay
        second = _run(tmp, emu, T0 + dt.timedelta(hours=1), first.states[-1], **config)
        bookmark = dt.datetime.fromisoformat(second.bookmark().replace("Z", "+00:00"))
        last_hour = bookmark - dt.timedelta(hours=1)
        expected = {e["uuid"] for e in project.export_events(dt.datetime(2026, 1, 1), last_hour)}
        emitted = {r["uuid"] for run in (first, second) for r in run.records("events")}
        return emitted, expected
    finally:
        emu.stop()


def test_hours_read_while_loading_are_read_again_with_default_settings(tmp_path: Path) -> None:
    emitted, expected = _two_runs_while_amplitude_is_late(tmp_path)
    assert expected
    assert expected <= emitted, f"{len(expected - emitted)} events were never emitted"


def test_without_lookback_the_same_runs_lose_the_events_of_the_loading_hours(
    tmp_path: Path,
) -> None:
    """The scenario above really reads hours while they load: with lookback_hours=0 events are
    lost (which is why lookback_hours defaults to 2)."""
    emitted, expected = _two_runs_while_amplitude_is_late(tmp_path, lookback_hours=0)
    assert expected - emitted


def test_the_default_margin_reads_an_hour_one_hour_after_its_documented_availability(
    tmp_path: Path,
) -> None:
    emu = _emulator(export_lag_hours=2)
    try:
        run = _run(tmp_path, emu, T0 - dt.timedelta(minutes=1), None)
        # 05:59: hour 02:00 has been documented as available since 05:00; it is not read yet.
        assert run.bookmark() == "2026-01-02T02:00:00.000000Z"
        assert run.states[-1]["bookmarks"]["events"]["reread_from"] == (
            "2026-01-02T00:00:00.000000Z"
        )
        assert max(r["server_upload_time"] for r in run.records("events")) < "2026-01-02T02"
    finally:
        emu.stop()


# -- dashboard days in the project's time zone ------------------------------------------------


def _dashboard_run(tmp: Path, emu: Emulator, at: dt.datetime, state: dict | None) -> Run:
    emu.clock = at
    config = _config(emu, project_timezone="America/Los_Angeles")
    run = _run_tap(tmp, config, streams={"active_users"}, state=state, now=at.isoformat())
    assert run.returncode == 0, run.stderr
    return run


def test_dashboard_days_follow_the_project_time_zone(tmp_path: Path) -> None:
    emu = _emulator(timezone="America/Los_Angeles")
    try:
        # 04:00 UTC on 2026-01-02 is 20:00 on 2026-01-01 in Los Angeles.
        first = _dashboard_run(tmp_path, emu, dt.datetime(2026, 1, 2, 4, tzinfo=UTC), None)
        days = [r["date"] for r in first.records("active_users")]
        assert days[-1] == "2026-01-01", days  # 2026-01-02 has not begun in Los Angeles
        assert first.bookmark("active_users") == "2026-01-01"
        figures = emu.project(KEY).figures()
        for record in first.records("active_users"):
            day = dt.date.fromisoformat(record["date"])
            assert sum(record["statistics"].values()) == len(figures.active.get(day, set()))

        emu.reset_requests()
        second = _dashboard_run(
            tmp_path, emu, dt.datetime(2026, 1, 3, 4, tzinfo=UTC), first.states[-1]
        )
        days = [r["date"] for r in second.records("active_users")]
        assert "2026-01-01" in days  # the partial day is read again, complete now
        assert days[-1] == "2026-01-02"
        starts = [r.query["start"] for r in emu.requests_to("/api/2/users")]
        # 3 days (dashboard_lookback_days) before the bookmark, but not before start_date
        # (2026-01-01T00:00Z is 2025-12-31 in Los Angeles)
        assert starts == ["20251231"]
    finally:
        emu.stop()


# -- day-grouped history -----------------------------------------------------------------------


def test_day_grouped_exports_before_2014_11_12_are_filtered_to_the_window(
    tmp_path: Path,
) -> None:
    emu = Emulator()
    project = emu.add_project(
        api_key=KEY,
        secret_key=SECRET,
        project_id=187520,
        spec=GeneratorSpec(seed=5, events=1500, start="2014-11-10T00", hours=72, users=40),
    )
    emu.start()
    try:
        config = _config(
            emu,
            start_date="2014-11-10T05:00:00Z",
            end_date="2014-11-12T07:00:00Z",
            request_time_range=7,
        )
        run = _run_tap(tmp_path, config, streams={"events"})
        assert run.returncode == 0, run.stderr
        uuids = [r["uuid"] for r in run.records("events")]
        expected = {
            e["uuid"]
            for e in project.export_events(
                dt.datetime(2014, 11, 10, 5), dt.datetime(2014, 11, 12, 6)
            )
        }
        assert len(uuids) == len(set(uuids)), "an event of a day-grouped export emitted twice"
        assert set(uuids) == expected
        # windows cut days in parts, and the emulator answers each with whole days
        starts = sorted(r.query["start"] for r in emu.requests_to("/api/2/export"))
        assert starts[:2] == ["20141110T05", "20141110T12"]  # (prefetched: any arrival order)
    finally:
        emu.stop()


# -- capabilities that would checkpoint ahead of records -----------------------------------


def test_batch_and_activate_version_are_not_advertised_and_their_options_refused(
    tmp_path: Path,
) -> None:
    about = json.loads(
        subprocess.run(
            [TAP, "--about", "--format=json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert "batch" not in about["capabilities"]
    assert "activate-version" not in about["capabilities"]
    assert "batch_config" not in about["settings"]["properties"]
    config = {
        "api_key": KEY,
        "secret_key": SECRET,
        "api_url": "http://127.0.0.1:9",
        "batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": str(tmp_path)}},
    }
    done = subprocess.run(
        [TAP, "--config", str(write_json(tmp_path / "c.json", config))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "batch_config" in done.stderr
    assert '"type":"BATCH"' not in done.stdout.replace(" ", "")


def test_reading_again_never_moves_the_bookmark_back(tmp_path: Path) -> None:
    emu = _emulator()
    try:
        state = {
            "bookmarks": {
                "events": {
                    "replication_key": "server_upload_time",
                    "replication_key_value": "2026-01-02T04:00:00.000000Z",
                    "reread_from": "2026-01-02T01:00:00.000000Z",
                }
            }
        }
        # 06:30 with export_lag_hours=3: hours up to 03:00 only, below the saved bookmark
        run = _run(tmp_path, emu, T0 + dt.timedelta(minutes=30), state)
        starts = [(r.query["start"], r.query["end"]) for r in emu.requests_to("/api/2/export")]
        assert starts == [("20260102T01", "20260102T02")]
        assert run.bookmark() == "2026-01-02T04:00:00.000000Z"
        assert run.states[-1]["bookmarks"]["events"]["reread_from"] == (
            "2026-01-02T01:00:00.000000Z"
        )
    finally:
        emu.stop()
