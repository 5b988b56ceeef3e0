"""touch_event (opt-in, per mapping of a user, device or group): one event per updated id once
its profile update is accepted, so the new values show in Amplitude at once (issue 20).

Identify API docs (content/collections/api/en/identify.md in amplitude/amplitude-docs):
"property values don't apply or appear in the platform until the user's next event" and
"Updates aren't retroactive, and only apply to future events."
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from target_amplitude.settings import SettingsError, parse_stream_mapping

from tests.target.helpers import FAST_RETRIES, props, record, run_target, schema

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

TOUCH = "Profile Synced"


def _config(emulator: Emulator, mappings: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "stream_mappings": mappings,
        **FAST_RETRIES,
    }


def _touches(emulator: Emulator) -> list[dict[str, t.Any]]:
    return [e for e in emulator.project("key-std").ingested if e["event_type"] == TOUCH]


def test_one_touch_per_updated_user_and_the_property_shows_on_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    mappings = {"customers": {"object": "user", "user_id_field": "id", "touch_event": TOUCH}}
    lines = [
        schema("customers", props("id", "plan")),
        record("customers", {"id": "customer-1", "plan": "free"}),
        record("customers", {"id": "customer-2", "plan": "pro"}),
        record("customers", {"id": "customer-1", "plan": "pro"}),
        record("customers", {"id": "x", "plan": "pro"}),  # too short an id: rejected, no touch
    ]
    project = emulator.project("key-std")
    project.ingest([{"event_type": "Seen", "user_id": "customer-1", "insert_id": "s1"}], "/batch")
    run = run_target(tmp_path, _config(emulator, mappings), lines)
    assert run.returncode == 0, run.stderr
    touches = _touches(emulator)
    assert sorted(e["user_id"] for e in touches) == ["customer-1", "customer-2"]
    exported = list(project.export_events(0, 1 << 40))
    shown = {
        e["user_id"]: e["user_properties"]["plan"] for e in exported if e["event_type"] == TOUCH
    }
    assert shown == {"customer-1": "pro", "customer-2": "pro"}
    # Not retroactive: the event stored before the update keeps the properties it had.
    (seen,) = [e for e in exported if e["event_type"] == "Seen"]
    assert "plan" not in (seen.get("user_properties") or {})
    line = "Summary touch_event stream=customers event_type=Profile Synced accepted=2 rejected=0"
    assert line in run.stderr
    assert "Summary stream=customers in=4 accepted=3 rejected=1" in run.stderr


def test_devices_and_groups_get_their_touch_and_none_without_the_setting(
    emulator: Emulator, tmp_path: Path
) -> None:
    mappings = {
        "devices": {"object": "device", "device_id_field": "device_id", "touch_event": TOUCH},
        "accounts": {
            "object": "group",
            "group_type": "company",
            "group_value_field": "id",
            "touch_event": TOUCH,
        },
        "people": {"object": "user", "user_id_field": "id"},  # default: off
    }
    lines = [
        schema("devices", props("device_id", "model")),
        record("devices", {"device_id": "device-77", "model": "X1"}),
        schema("accounts", props("id", "name")),
        record("accounts", {"id": "acme-inc", "name": "Acme"}),
        schema("people", props("id", "plan")),
        record("people", {"id": "person-1", "plan": "pro"}),
    ]
    run = run_target(tmp_path, _config(emulator, mappings), lines)
    assert run.returncode == 0, run.stderr
    touches = _touches(emulator)
    assert len(touches) == 2
    device = next(e for e in touches if e["device_id"] == "device-77")
    assert "user_id" not in device or device["user_id"] is None
    group = next(e for e in touches if e.get("groups"))
    assert group["groups"] == {"company": "acme-inc"}
    assert group["device_id"] == "touch-group:company:acme-inc"
    assert not [e for e in touches if e.get("user_id") == "person-1"]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"object": "event", "event_type": "E", "user_id_field": "u", "touch_event": TOUCH},
         "applies to object: user, device, group only"),
        ({"object": "deletion", "user_id_field": "u", "touch_event": TOUCH}, "not used by object"),
        ({"object": "user", "user_id_field": "u", "touch_event": "$identify"}, "of your own"),
        ({"object": "user", "user_id_field": "u", "touch_event": "[Amplitude] Start Session"},
         "of your own"),
        ({"object": "user", "user_id_field": "u", "touch_event": ""}, "non-empty string"),
        ({"object": "user", "user_id_field": "u", "touch_event": 3}, "non-empty string"),
    ],
)  # fmt: skip
def test_touch_event_is_validated_like_the_other_mapping_keys(raw: dict, needle: str) -> None:
    with pytest.raises(SettingsError, match=r"stream_mappings\.s\.touch_event") as error:
        parse_stream_mapping("s", raw)
    assert needle in str(error.value)


def test_touch_event_defaults_to_off() -> None:
    assert parse_stream_mapping("s", {"object": "user", "user_id_field": "u"}).touch_event is None
    group = {"object": "group", "group_type": "g", "group_value_field": "v", "touch_event": TOUCH}
    mapping = parse_stream_mapping("s", group)
    assert mapping.touch_event == TOUCH
