"""GET /api/2/export: zip layout, selection, raw timestamps, errors."""

from __future__ import annotations

import re
from datetime import datetime

import requests
from amplitude_emulator import Emulator, GeneratorSpec

from tests.emulator_tests.helpers import STD_AUTH, batch, export, unzip_events

EXPORT_FIELDS = [
    "uuid",
    "$insert_id",
    "$insert_key",
    "$schema",
    "event_id",
    "event_type",
    "amplitude_event_type",
    "user_id",
    "device_id",
    "amplitude_id",
    "app",
    "session_id",
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_received_time",
    "server_upload_time",
    "processed_time",
    "user_creation_time",
    "event_properties",
    "user_properties",
    "group_properties",
    "groups",
    "global_user_properties",
    "data",
    "data_type",
    "library",
    "platform",
    "os_name",
    "os_version",
    "device_brand",
    "device_manufacturer",
    "device_model",
    "device_family",
    "device_type",
    "device_carrier",
    "version_name",
    "start_version",
    "ip_address",
    "country",
    "region",
    "city",
    "dma",
    "language",
    "location_lat",
    "location_lng",
    "paying",
    "adid",
    "idfa",
    "amplitude_attribution_ids",
    "is_attribution_event",
    "sample_rate",
    "plan",
    "partner_id",
    "source_id",
]
RAW_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?$")
ENTRY = re.compile(r"^187520/187520_\d{4}-\d{2}-\d{2}_(\d{1,2})#(\d+)\.json\.gz$")


def _raw(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_export_serves_every_generated_event_of_the_day(emulator: Emulator) -> None:
    response = export(emulator.base_url, "20260101T00", "20260101T23")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert int(response.headers["Content-Length"]) == len(response.content)
    names, events = unzip_events(response.content)
    assert names[0] == "187520/"
    hours = [int(ENTRY.match(name).group(1)) for name in names[1:]]  # type: ignore[union-attr]
    assert hours == list(range(24))
    assert "187520/187520_2026-01-01_0#0.json.gz" in names
    assert len(events) == 2000 == emulator.project("key-std").export_count()
    assert len({event["uuid"] for event in events}) == 2000
    for event in events:
        assert set(EXPORT_FIELDS) <= set(event)
        assert RAW_TS.match(event["server_upload_time"])
        assert event["server_upload_time"].startswith("2026-01-01 ")


def test_export_events_are_realistic_and_varied(emulator: Emulator) -> None:
    _, events = unzip_events(export(emulator.base_url, "20260101T00", "20260101T23").content)
    precisions = {len(e["event_time"]) for e in events} | {
        len(e["client_upload_time"]) for e in events
    }
    assert precisions >= {19, 26}  # no fraction and six digits both occur
    assert {len(e["processed_time"]) for e in events} >= {23, 26}
    late = [e for e in events if (_raw(e["server_upload_time"]) - _raw(e["event_time"])).days >= 1]
    assert 40 < len(late) < 200  # late_fraction 0.05 of 2000
    assert any(e["user_id"] is None and e["device_id"] for e in events)  # anonymous users
    assert any(e["$insert_id"] is None for e in events)
    assert any(isinstance(e["event_properties"].get("cart"), dict) for e in events)
    assert any(e["event_properties"]["referrer"] is None for e in events)
    assert any(e["groups"] for e in events)
    assert any(not e["groups"] for e in events)
    attribution = [e["amplitude_attribution_ids"] for e in events]
    assert any(isinstance(value, str) for value in attribution)
    assert all(value is None or isinstance(value, str) for value in attribution)  # a string
    assert {e["session_id"] for e in events} & {-1}


def test_hours_are_inclusive_and_select_by_server_upload_time(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    names, events = unzip_events(export(emulator.base_url, "20260101T05", "20260101T05").content)
    assert names == ["187520/", "187520/187520_2026-01-01_5#0.json.gz"]
    assert all(e["server_upload_time"].startswith("2026-01-01 05:") for e in events)
    assert events == list(project.export_events("20260101T05", "20260101T05"))
    assert len(events) == project.export_count("2026-01-01T05", "2026-01-01T05")


def test_big_hours_are_split_into_partitions(emulator_factory) -> None:
    emu = emulator_factory(
        [
            {
                "api_key": "k-part",
                "secret_key": "s-part",
                "project_id": 187520,
                "partition_events": 10,
                "zip_directory_entry": False,
                "spec": GeneratorSpec(seed=3, events=100, hours=2),
            }
        ]
    )
    names, events = unzip_events(
        export(emu.base_url, "20260101T00", "20260101T01", auth=("k-part", "s-part")).content
    )
    assert len(events) == 100
    assert not any(name.endswith("/") for name in names)
    assert "187520/187520_2026-01-01_0#1.json.gz" in names
    partitions = [int(ENTRY.match(n).group(2)) for n in names]  # type: ignore[union-attr]
    assert max(partitions) >= 3


def test_empty_range_is_404_with_amplitudes_body(emulator: Emulator) -> None:
    response = export(emulator.base_url, "20250101T00", "20250101T23")
    assert response.status_code == 404
    assert response.text == "Raw data files were not found."


def test_malformed_and_oversized_ranges_are_400(emulator: Emulator) -> None:
    for start, end in [
        ("2026-01-01", "20260101T23"),
        ("20260101T24", "20260101T23"),
        ("20260101T05", "20260101T04"),
        ("", ""),
        ("20250101T00", "20260101T00"),
    ]:
        response = export(emulator.base_url, start, end)
        assert response.status_code == 400, (start, end)
        error = response.json()["error"]
        assert error["http_code"] == 400
        assert error["type"] == "invalid"
        assert error["message"]
    assert export(emulator.base_url, "20250102T00", "20260101T23").status_code == 200  # 365 days


def test_bad_credentials_and_wrong_region_are_401(emulator: Emulator) -> None:
    base = emulator.base_url
    assert export(base, "20260101T00", "20260101T01", auth=("key-std", "wrong")).status_code == 401
    assert (
        export(base, "20260101T00", "20260101T01", auth=("nope", "secret-std")).status_code == 401
    )
    unauthenticated = requests.get(
        f"{base}/api/2/export", params={"start": "20260101T00", "end": "20260101T01"}, timeout=10
    )
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["type"] == "unauthorized"
    wrong_region = export(emulator.url("eu"), "20260101T00", "20260101T01", auth=STD_AUTH)
    assert wrong_region.status_code == 401
    assert "secret-std" not in wrong_region.text


def test_eu_project_serves_under_the_eu_prefix(emulator: Emulator) -> None:
    eu = emulator.url("eu")
    assert export(eu, "20260102T00", "20260103T23", auth=("key-eu", "secret-eu")).status_code == 404
    assert (
        batch(
            eu, [{"event_type": "Page View", "device_id": "device-eu-1"}], api_key="key-eu"
        ).status_code
        == 200
    )
    response = export(eu, "20260103T00", "20260103T00", auth=("key-eu", "secret-eu"))
    names, events = unzip_events(response.content)
    assert names[-1] == "287520/287520_2026-01-03_0#0.json.gz"
    assert [e["device_id"] for e in events] == ["device-eu-1"]
    assert emulator.requests_to("/api/2/export")[-1].region == "eu"
