"""POST /batch and /2/httpapi: validation bodies, dedup and the round trip into the export."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from amplitude_emulator import Emulator

from tests.emulator_tests.helpers import batch, export, identify, unzip_events

PATHS = ["/batch", "/2/httpapi"]
T0 = 1767225600000  # 2026-01-01T00:00:00Z


def _event(**fields):
    return {"event_type": "Page View", "device_id": "device-00001", **fields}


def _exported(emulator: Emulator) -> list[dict]:
    """Ingested events are exported in the hour of the emulator clock (2026-01-03T00)."""
    response = export(emulator.base_url, "20260103T00", "20260103T00")
    return unzip_events(response.content)[1] if response.status_code == 200 else []


@pytest.mark.parametrize("path", PATHS)
def test_accepted_events_answer_200_and_become_exportable(emulator: Emulator, path: str) -> None:
    sent = [
        _event(
            user_id="user-00001",
            insert_id="ins-1",
            time=T0 + 1234,
            app_version="4.2.0",
            carrier="Verizon",
            ip="10.1.2.3",
            country="Germany",
            event_id=7,
            session_id=T0,
            event_properties={"nested": {"a": [1, None]}},
            price=9.5,
            quantity=2,
        ),
        _event(device_id="device-00002", event_type="Checkout"),
    ]
    response = batch(emulator.base_url, sent, path=path)
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200
    assert body["events_ingested"] == 2
    assert body["payload_size_bytes"] == len(response.request.body)  # type: ignore[arg-type]
    assert body["server_upload_time"] == 1767398400000
    assert emulator.project("key-std").ingested == sent
    first, second = _exported(emulator)
    assert first["$insert_id"] == "ins-1"
    assert first["version_name"] == "4.2.0"
    assert first["device_carrier"] == "Verizon"
    assert first["ip_address"] == "10.1.2.3"
    assert first["event_time"] == "2026-01-01 00:00:01.234000"
    assert first["server_upload_time"] == "2026-01-03 00:00:00.000000"
    assert first["event_properties"] == {
        "nested": {"a": [1, None]},
        "$price": 9.5,
        "$quantity": 2,
        "$revenue": 19.0,  # price x quantity
    }
    assert first["country"] == "Germany"
    assert first["session_id"] == T0
    assert first["event_id"] == 7
    assert first["app"] == 187520
    assert first["uuid"] != second["uuid"]
    assert first["data"]["path"] == path
    assert second["event_type"] == "Checkout"
    assert second["session_id"] == -1
    assert second["user_id"] is None


def test_insert_id_dedup_per_device_for_seven_days(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    one = _event(insert_id="same-id")
    assert batch(emulator.base_url, [one, one]).json()["events_ingested"] == 2
    assert batch(emulator.base_url, [one]).status_code == 200
    assert len(project.ingested) == 1
    other_device = _event(insert_id="same-id", device_id="device-00009")
    batch(emulator.base_url, [other_device])
    assert len(project.ingested) == 2
    emulator.advance(timedelta(days=6, hours=23))
    batch(emulator.base_url, [one])
    assert len(project.ingested) == 2
    emulator.advance(timedelta(days=8))
    batch(emulator.base_url, [one])
    assert len(project.ingested) == 3
    user_only = {"event_type": "x", "user_id": "user-00001", "insert_id": "u-1"}
    batch(emulator.base_url, [user_only, user_only])
    assert len(project.ingested) == 4


@pytest.mark.parametrize("path", PATHS)
def test_whole_request_errors(emulator: Emulator, path: str) -> None:
    url = emulator.base_url + path
    missing_key = requests.post(url, json={"events": [_event()]}, timeout=10)
    assert missing_key.status_code == 400
    assert missing_key.json() == {
        "code": 400,
        "error": "Request missing required field",
        "missing_field": "api_key",
    }
    missing_events = requests.post(url, json={"api_key": "key-std"}, timeout=10)
    assert missing_events.json()["missing_field"] == "events"
    assert (
        requests.post(url, json={"api_key": "key-std", "events": []}, timeout=10).json()[
            "missing_field"
        ]
        == "events"
    )
    not_json = requests.post(url, data=b"{not json", timeout=10)
    assert not_json.status_code == 400
    assert not_json.json()["code"] == 400
    bad_key = batch(emulator.base_url, [_event()], path=path, api_key="key-nope")
    assert bad_key.status_code == 400
    assert bad_key.json() == {"code": 400, "error": "Invalid API key: key-nope"}
    wrong_region = batch(emulator.url("eu"), [_event()], path=path, api_key="key-std")
    assert wrong_region.json() == {"code": 400, "error": "Invalid API key: key-std"}
    too_many = batch(emulator.base_url, [_event()] * 2001, path=path)
    assert too_many.status_code == 413
    assert too_many.json() == {"code": 413, "error": "Payload too large"}
    bad_option = batch(emulator.base_url, [_event()], path=path, options={"min_id_length": 0})
    assert bad_option.status_code == 400
    assert emulator.project("key-std").ingested == []


def test_byte_limits_are_1mb_for_httpapi_and_20mb_for_batch(emulator: Emulator) -> None:
    big = [_event(event_properties={"blob": "x" * 1000}) for _ in range(1100)]  # ~1.2 MB
    assert batch(emulator.base_url, big, path="/2/httpapi").status_code == 413
    assert batch(emulator.base_url, big, path="/batch").status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_bad_events_are_listed_by_index_and_nothing_is_stored(
    emulator: Emulator, path: str
) -> None:
    events = [
        _event(),
        {"device_id": "device-00001"},
        _event(time=1767225600000.5),
        _event(time="2026-01-01"),
        {"event_type": "x"},
        _event(device_id="dev"),
        _event(device_id="null"),
        _event(event_type="[Amplitude] Revenue"),
        _event(user_id="Anonymous"),
        {"event_type": "x", "user_id": "abcd"},
        _event(user_properties={"plan": "a", "$set": {"b": 1}}),
        "not an event",
    ]
    response = batch(emulator.base_url, events, path=path)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid field values on some events"
    assert body["events_with_missing_fields"] == {"event_type": [1], "user_id_or_device_id": [4]}
    assert body["events_with_invalid_fields"] == {
        "time": [2, 3],
        "device_id": [6],
        "event_type": [7],
        "user_id": [8],
        "user_properties": [10],
        "event": [11],
    }
    assert body["events_with_invalid_id_lengths"] == {"device_id": [5], "user_id": [9]}
    assert emulator.project("key-std").ingested == []
    assert _exported(emulator) == []


def test_min_id_length_option_allows_short_ids(emulator: Emulator) -> None:
    short = [_event(device_id="d1")]
    assert batch(emulator.base_url, short).status_code == 400
    assert batch(emulator.base_url, short, options={"min_id_length": 2}).status_code == 200
    assert emulator.project("key-std").ingested == short


def test_events_carry_the_current_profile(emulator: Emulator) -> None:
    base = emulator.base_url
    batch(base, [_event(user_id="user-00001", user_properties={"plan": "free", "age": 30})])
    assert (
        identify(
            base, {"user_id": "user-00001", "user_properties": {"$set": {"plan": "pro"}}}
        ).status_code
        == 200
    )
    batch(base, [_event(user_id="user-00001", event_type="After identify")])
    batch(
        base,
        [
            _event(
                user_id="user-00001",
                event_type="Backfill",
                user_properties={"plan": "legacy"},
                **{"$skip_user_properties_sync": True},
            )
        ],
    )
    first, second, backfill = _exported(emulator)
    assert first["user_properties"] == {"plan": "free", "age": 30}
    assert first["data"]["user_properties_updated"] is True
    assert second["user_properties"] == {"plan": "pro", "age": 30}
    assert backfill["user_properties"] == {"plan": "legacy"}
    assert emulator.project("key-std").users["user-00001"] == {"plan": "pro", "age": 30}


def test_groups_and_group_properties_reach_events(emulator: Emulator) -> None:
    base = emulator.base_url
    identify(
        base,
        {
            "group_type": "company",
            "group_value": "acme",
            "group_properties": {"industry": "retail"},
        },
        path="/groupidentify",
    )
    identify(base, {"user_id": "user-00001", "groups": {"company": "acme"}})
    batch(base, [_event(user_id="user-00001")])
    (event,) = _exported(emulator)
    assert event["groups"] == {"company": "acme"}
    assert event["group_properties"] == {"company": {"acme": {"industry": "retail"}}}
    assert event["user_properties"] == {"company": "acme"}
