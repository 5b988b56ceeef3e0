"""The official amplitude-analytics SDK drives the emulator (issue 9).

Each test calls the SDK as its documentation shows (identify, group_identify, set_group,
revenue, track), on /2/httpapi and on /batch (``use_batch`` off and on), and asserts two things
nobody here can tune: the status codes the SDK's own callbacks report, and what the Export API
then returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from amplitude import BaseEvent, EventOptions, Identify, Revenue
from amplitude_emulator import Emulator

from tests.conformance.sdk_client import SdkClient
from tests.emulator_tests.helpers import STD_AUTH, export, unzip_events


def exported(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Export records by $insert_id (ingested events land in the clock's hour, 2026-01-03T00)."""
    response = export(emulator.base_url, "20260103T00", "20260103T00")
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    return {event["$insert_id"]: event for event in unzip_events(response.content)[1]}


def test_identify_effects_appear_on_the_users_next_event(
    sdk: SdkClient, emulator: Emulator
) -> None:
    identify = Identify().set("plan", "pro").set_once("first_seen", "2026-01-01").add("logins", 2)
    identify.append("tags", "beta")
    sdk.client.identify(identify, EventOptions(user_id="sdk-user-1", insert_id="identify-1"))
    assert sdk.wait("identify-1") == {"identify-1": 200}
    assert sdk.track("Opened", "next-1", user_id="sdk-user-1") == 200
    expected = {"plan": "pro", "first_seen": "2026-01-01", "logins": 2, "tags": ["beta"]}
    events = exported(emulator)
    assert events["identify-1"]["event_type"] == "$identify"
    assert events["next-1"]["user_properties"] == expected
    # a second identify with operations on the stored values
    sdk.client.identify(
        Identify().unset("first_seen").add("logins", 1).set_once("plan", "free"),
        EventOptions(user_id="sdk-user-1", insert_id="identify-2"),
    )
    assert sdk.wait("identify-2") == {"identify-2": 200}
    assert sdk.track("Opened", "next-2", user_id="sdk-user-1") == 200
    assert exported(emulator)["next-2"]["user_properties"] == {
        "plan": "pro",
        "logins": 3,
        "tags": ["beta"],
    }


def test_group_identify_and_set_group(sdk: SdkClient, emulator: Emulator) -> None:
    # group_identify without a user: the SDK sends a $groupidentify with only groups
    sdk.client.group_identify(
        "company",
        "acme",
        Identify().set("tier", "gold").add("seats", 10),
        EventOptions(insert_id="group-1"),
    )
    assert sdk.wait("group-1") == {"group-1": 200}
    sdk.client.set_group("company", "acme", EventOptions(user_id="sdk-user-2", insert_id="join-1"))
    assert sdk.wait("join-1") == {"join-1": 200}
    assert sdk.track("Used", "used-1", user_id="sdk-user-2") == 200
    used = exported(emulator)["used-1"]
    assert used["groups"] == {"company": "acme"}
    assert used["group_properties"] == {"company": {"acme": {"tier": "gold", "seats": 10}}}
    assert used["user_properties"] == {"company": "acme"}
    assert "group-1" not in exported(emulator)  # a group's update, not a user's event


def test_revenue_is_price_times_quantity(sdk: SdkClient, emulator: Emulator) -> None:
    revenue = Revenue(price=2.5, quantity=4, product_id="sku-1", revenue_type="purchase")
    sdk.client.revenue(revenue, EventOptions(user_id="sdk-user-3", insert_id="revenue-1"))
    assert sdk.wait("revenue-1") == {"revenue-1": 200}
    properties = exported(emulator)["revenue-1"]["event_properties"]
    assert properties["$price"] == 2.5
    assert properties["$quantity"] == 4
    assert properties["$revenue"] == 10.0
    assert properties["$productId"] == "sku-1"


def test_track_with_insert_id_is_stored_once(sdk: SdkClient, emulator: Emulator) -> None:
    sdk.client.track(BaseEvent("Paid", user_id="sdk-user-4", insert_id="paid-1"))
    sdk.client.track(BaseEvent("Paid", user_id="sdk-user-4", insert_id="paid-1"))
    assert sdk.wait("paid-1", "paid-1") == {"paid-1": 200}  # both answered 200
    assert len(sdk.results["paid-1"]) == 2
    ingested = emulator.project("key-std").ingested
    assert [e.get("insert_id") for e in ingested] == ["paid-1"]
    assert exported(emulator)["paid-1"]["data"]["path"] == sdk.path


def test_a_device_that_logs_in_stays_one_person(sdk: SdkClient, emulator: Emulator) -> None:
    assert sdk.track("Browse", "login-1", device_id="sdk-device-5") == 200
    assert sdk.track("Log in", "login-2", device_id="sdk-device-5", user_id="sdk-user-5") == 200
    assert sdk.track("Server side", "login-3", user_id="sdk-user-5") == 200
    events = exported(emulator)
    mine = [events[f"login-{n}"] for n in (1, 2, 3)]
    assert len({event["amplitude_id"] for event in mine}) == 1
    assert mine[2]["device_id"]  # a user_id-only event gets a device_id
    day = datetime.strptime(mine[0]["event_time"][:10], "%Y-%m-%d").strftime("%Y%m%d")
    for metric in ("active", "new"):
        response = requests.get(
            f"{emulator.base_url}/api/2/users",
            params={"start": day, "end": day, "m": metric},
            auth=STD_AUTH,
            timeout=10,
        )
        assert response.json()["data"]["series"] == [[1]], metric


def test_invalid_ids(sdk_factory: Callable[..., SdkClient], emulator: Emulator) -> None:
    sdk = sdk_factory()
    # a too-short user_id next to a valid device_id: removed, the event kept
    assert sdk.track("Short", "short-1", user_id="abc", device_id="sdk-device-6") == 200
    kept = exported(emulator)["short-1"]
    assert (kept["user_id"], kept["device_id"]) == (None, "sdk-device-6")
    # no valid id left: refused, the SDK reports 400 for that event only
    assert sdk.track("Short", "short-2", user_id="abc") == 400
    assert "short-2" not in exported(emulator)
    # the SDK's min_id_length option is honoured
    lenient = sdk_factory(min_id_length=3)
    assert lenient.track("Short", "short-3", user_id="abc") == 200
    assert exported(emulator)["short-3"]["user_id"] == "abc"


def test_oversize_event(sdk: SdkClient, emulator: Emulator) -> None:
    """An event over 1 MB: 413 on /2/httpapi (the SDK gives up on a single event), accepted
    on /batch (20 MB). The SDK cuts strings at 1024 characters, so the size is in keys."""
    properties = {f"p{i:04d}": "x" * 1020 for i in range(1024)}  # the SDK's limits: ~1.06 MB
    code = sdk.track("Big", "big-1", device_id="sdk-device-7", event_properties=properties)
    if sdk.path == "/2/httpapi":
        assert code == 413
        assert "big-1" not in exported(emulator)
    else:
        assert code == 200
        assert len(exported(emulator)["big-1"]["event_properties"]) == 1024
