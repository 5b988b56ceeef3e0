"""The write side as Amplitude documents it: $identify / $groupidentify events, short ids,
identity merge, assigned device ids, revenue and language (see the README's behaviours table)."""

from __future__ import annotations

import pytest
import requests
from amplitude_emulator import Emulator

from tests.emulator_tests.helpers import STD_AUTH, batch, export, identify, unzip_events

PATHS = ["/batch", "/2/httpapi"]
DAY_MS = 1767398400000  # 2026-01-03T00:00:00Z, the fixture's clock


def _exported(emulator: Emulator) -> list[dict]:
    response = export(emulator.base_url, "20260103T00", "20260103T00")
    return unzip_events(response.content)[1] if response.status_code == 200 else []


def _users(emulator: Emulator, metric: str = "active") -> list[int]:
    response = requests.get(
        f"{emulator.base_url}/api/2/users",
        params={"start": "20260103", "end": "20260103", "m": metric},
        auth=STD_AUTH,
        timeout=10,
    )
    return response.json()["data"]["series"][0]


@pytest.mark.parametrize("path", PATHS)
def test_identify_event_updates_the_profile_and_dedups(emulator: Emulator, path: str) -> None:
    base = emulator.base_url
    ident = {
        "event_type": "$identify",
        "user_id": "user-10001",
        "insert_id": "identify-1",
        "user_properties": {"$set": {"plan": "pro"}, "$add": {"logins": 1}},
    }
    assert batch(base, [ident], path=path).status_code == 200
    assert batch(base, [ident], path=path).status_code == 200  # a retry: deduplicated
    batch(base, [{"event_type": "Next", "user_id": "user-10001"}], path=path)
    identify_event, following = _exported(emulator)
    assert identify_event["event_type"] == "$identify"
    assert identify_event["user_properties"] == {"plan": "pro", "logins": 1}
    assert following["user_properties"] == {"plan": "pro", "logins": 1}
    assert emulator.project("key-std").users["user-10001"] == {"plan": "pro", "logins": 1}


@pytest.mark.parametrize("path", PATHS)
def test_group_identify_event_updates_the_group(emulator: Emulator, path: str) -> None:
    base = emulator.base_url
    group = {
        "event_type": "$groupidentify",
        "groups": {"company": "acme"},
        "group_properties": {"$set": {"industry": "retail"}, "$add": {"seats": 5}},
    }
    assert batch(base, [group], path=path).status_code == 200  # no user_id or device_id needed
    assert batch(base, [{**group, "device_id": "device-10001"}], path=path).status_code == 200
    assert emulator.project("key-std").groups[("company", "acme")] == {
        "industry": "retail",
        "seats": 10,
    }
    assert _exported(emulator) == []  # not an event of a user
    no_group = batch(base, [{"event_type": "$groupidentify", "group_properties": {"a": 1}}])
    assert no_group.status_code == 400
    assert no_group.json()["events_with_missing_fields"] == {"groups": [0]}


def test_set_group_joins_the_user_to_the_group(emulator: Emulator) -> None:
    """set_group: a $identify with $set {type: value} and groups (the official SDK's form)."""
    base = emulator.base_url
    identify(
        base,
        {"group_type": "company", "group_value": "acme", "group_properties": {"tier": 1}},
        path="/groupidentify",
    )
    set_group = {
        "event_type": "$identify",
        "user_id": "user-10002",
        "groups": {"company": "acme"},
        "user_properties": {"$set": {"company": "acme"}},
    }
    assert batch(base, [set_group]).status_code == 200
    batch(base, [{"event_type": "Later", "user_id": "user-10002"}])
    _, later = _exported(emulator)
    assert later["groups"] == {"company": "acme"}
    assert later["group_properties"] == {"company": {"acme": {"tier": 1}}}
    assert later["user_properties"] == {"company": "acme"}


@pytest.mark.parametrize("path", PATHS)
def test_a_short_id_is_removed_and_the_event_kept(emulator: Emulator, path: str) -> None:
    base = emulator.base_url
    events = [
        {"event_type": "A", "user_id": "abc", "device_id": "device-10003"},
        {"event_type": "B", "user_id": "user-10003", "device_id": "dev"},
    ]
    response = batch(base, events, path=path)
    assert response.status_code == 200, response.text
    assert response.json()["events_ingested"] == 2
    first, second = _exported(emulator)
    assert (first["user_id"], first["device_id"]) == (None, "device-10003")
    assert second["user_id"] == "user-10003"
    assert second["device_id"] not in (None, "dev")  # removed, then one is assigned
    only_short = batch(base, [{"event_type": "C", "user_id": "abc", "device_id": "d"}], path=path)
    assert only_short.status_code == 400
    assert only_short.json()["events_with_invalid_id_lengths"] == {
        "user_id": [0],
        "device_id": [0],
    }
    assert len(_exported(emulator)) == 2


def test_an_anonymous_device_that_logs_in_is_one_person(emulator: Emulator) -> None:
    base = emulator.base_url
    batch(base, [{"event_type": "Anonymous", "device_id": "device-10004", "time": DAY_MS}])
    batch(
        base,
        [
            {
                "event_type": "Login",
                "device_id": "device-10004",
                "user_id": "user-10004",
                "time": DAY_MS + 1000,
            },
            {"event_type": "Server side", "user_id": "user-10004", "time": DAY_MS + 2000},
            {"event_type": "Same device", "device_id": "device-10004", "time": DAY_MS + 3000},
        ],
    )
    events = _exported(emulator)
    assert len({event["amplitude_id"] for event in events}) == 1
    assert _users(emulator, "active") == [1]
    assert _users(emulator, "new") == [1]
    other = batch(base, [{"event_type": "Other", "user_id": "user-10005", "time": DAY_MS}])
    assert other.status_code == 200
    assert _exported(emulator)[-1]["amplitude_id"] != events[0]["amplitude_id"]
    assert _users(emulator, "active") == [2]


def test_a_user_id_only_event_gets_a_device_id(emulator: Emulator) -> None:
    base = emulator.base_url
    batch(base, [{"event_type": "A", "user_id": "user-10006"}] * 2)
    batch(base, [{"event_type": "B", "user_id": "user-10007"}])
    first, second, other = _exported(emulator)
    assert first["device_id"]
    assert first["device_id"] == second["device_id"]  # stable per user
    assert other["device_id"]
    assert other["device_id"] != first["device_id"]
    assert emulator.project("key-std").ingested[0].get("device_id") is None  # as sent


def test_revenue_is_price_times_quantity(emulator: Emulator) -> None:
    base = emulator.base_url
    events = [
        {"event_type": "Buy", "device_id": "device-10008", "price": 2.5, "quantity": 3},
        {"event_type": "Buy", "device_id": "device-10008", "price": 2.5, "revenue": 100.0},
        {
            "event_type": "Buy",
            "device_id": "device-10008",
            "price": 2.0,
            "quantity": 2,
            "revenue": 100.0,
        },
        {  # the official SDK's Revenue: the fields inside event_properties
            "event_type": "revenue_amount",
            "device_id": "device-10008",
            "event_properties": {"$price": 4.0, "$quantity": 2},
        },
        {"event_type": "Refund", "device_id": "device-10008", "revenue": -5.0},
        {"event_type": "One", "device_id": "device-10008", "price": 3.0},
    ]
    assert batch(base, events).status_code == 200
    revenues = [event["event_properties"].get("$revenue") for event in _exported(emulator)]
    assert revenues == [7.5, 100.0, 4.0, 8.0, -5.0, 3.0]


def test_language_is_the_language_name(emulator: Emulator) -> None:
    base = emulator.base_url
    languages = ["en-US", "de_DE", "fr", "English", "Klingon", "xx-YY"]
    batch(
        base, [{"event_type": "A", "device_id": "device-10009", "language": x} for x in languages]
    )
    exported = [event["language"] for event in _exported(emulator)]
    assert exported == ["English", "German", "French", "English", "Klingon", "xx-YY"]
