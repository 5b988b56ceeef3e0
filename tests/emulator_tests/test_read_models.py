"""Read-side models of issue 10: export availability, day-grouped history, project time zone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import requests
from amplitude_emulator import Emulator, GeneratorSpec
from amplitude_emulator.__main__ import _parser, build

from tests.emulator_tests.helpers import STD_AUTH, batch, export, unzip_events

SPEC = GeneratorSpec(seed=3, events=2400, start="2026-01-01T00", hours=24, users=50)


def _project(emulator_factory, **project: object) -> Emulator:
    return emulator_factory(
        [{"api_key": "key-std", "secret_key": "secret-std", "spec": SPEC, **project}]
    )


def test_an_hour_is_404_then_partial_while_loading_then_complete(emulator_factory) -> None:
    emu = _project(emulator_factory, export_lag_hours=2)
    hour = "20260101T10"
    complete = emu.project("key-std").export_count("2026-01-01T10", "2026-01-01T10")
    assert complete > 20
    served = []
    for now in ("2026-01-01T10:30", "2026-01-01T11:00", "2026-01-01T12:00", "2026-01-01T13:00"):
        emu.clock = datetime.fromisoformat(now).replace(tzinfo=UTC)
        response = export(emu.base_url, hour, hour)
        served.append(0 if response.status_code == 404 else len(unzip_events(response.content)[1]))
    # before the hour ends: 404; loading from 11:00 for 2 hours (the docs' "8 to 9 PM data
    # begins loading at 9 PM and is available at 11 PM"); complete at 13:00
    assert served[0] == 0
    assert served[1] == 0
    assert 0 < served[2] < complete
    assert served[3] == complete
    partial = unzip_events(export(emu.base_url, hour, hour).content)[1]
    first = list(emu.project("key-std").export_events("2026-01-01T10", "2026-01-01T10"))
    assert [e["uuid"] for e in partial] == [e["uuid"] for e in first]


def test_without_export_lag_ingested_events_are_exportable_at_once(emulator: Emulator) -> None:
    assert emulator.project("key-std").export_lag_hours is None
    emulator.clock = datetime(2026, 2, 1, 10, 5, tzinfo=UTC)
    event = {"event_type": "Signup", "user_id": "user-00001", "time": 1769940300000}
    assert batch(emulator.base_url, [event]).status_code == 200
    response = export(emulator.base_url, "20260201T10", "20260201T10")
    assert response.status_code == 200
    assert [e["event_type"] for e in unzip_events(response.content)[1]] == ["Signup"]


def test_the_command_line_models_the_lag_only_when_asked() -> None:
    assert build(_parser().parse_args(["serve"])).projects[0].export_lag_hours is None
    lagging = build(_parser().parse_args(["serve", "--export-lag", "3"]))
    assert {p.export_lag_hours for p in lagging.projects} == {3.0}
    help_text = subprocess.run(
        [sys.executable, "-m", "amplitude_emulator", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--export-lag" in help_text


def test_exports_before_2014_11_12_bring_whole_days(emulator_factory) -> None:
    spec = GeneratorSpec(seed=4, events=960, start="2014-11-11T00", hours=48, users=30)
    emu = emulator_factory([{"api_key": "key-std", "secret_key": "secret-std", "spec": spec}])
    project = emu.project("key-std")
    day = project.export_count("2014-11-11T00", "2014-11-11T23")
    _, old = unzip_events(export(emu.base_url, "20141111T05", "20141111T06").content)
    assert len(old) == day  # one hour of 2014-11-11 brings the whole day
    _, new = unzip_events(export(emu.base_url, "20141112T05", "20141112T06").content)
    assert len(new) == project.export_count("2014-11-12T05", "2014-11-12T06") < day


def test_dashboard_days_are_days_in_the_project_time_zone(emulator_factory) -> None:
    utc = _project(emulator_factory)
    tokyo = emulator_factory(
        [
            {
                "api_key": "key-std",
                "secret_key": "secret-std",
                "spec": SPEC,
                "timezone": "Asia/Tokyo",
            }
        ]
    )
    params = {"start": "20260101", "end": "20260102", "m": "active", "i": "1"}

    def users(emu: Emulator) -> dict[str, int]:
        body = requests.get(
            emu.base_url + "/api/2/users", params=params, auth=STD_AUTH, timeout=10
        ).json()["data"]
        return dict(zip(body["xValues"], body["series"][0], strict=True))

    in_utc, in_tokyo = users(utc), users(tokyo)
    # Events of 2026-01-01 from 15:00 UTC on fall on 2026-01-02 in Tokyo (UTC+9).
    assert in_utc["2026-01-02"] == 0
    assert in_tokyo["2026-01-02"] > 0
    project = tokyo.project("key-std")
    assert project.day(int(datetime(2026, 1, 1, 15, tzinfo=UTC).timestamp() * 1000)) == (
        datetime(2026, 1, 2).date()
    )
