"""Pre-send validation: what Amplitude would refuse gets a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from target_amplitude.rejects import RejectsWriter
from target_amplitude.validation import check_event, check_group, check_identify, check_size

OK = {"event_type": "Order", "user_id": "user-0001", "time": 1_700_000_000_000}


def test_valid_event_passes() -> None:
    assert check_event(OK, None) is None


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"event_type": ""}, "event_type must be a non-empty string"),
        ({"event_type": "[Amplitude] Start Session"}, "reserved"),
        ({"event_type": "$groupidentify"}, "needs groups"),
        ({"event_type": "[Amplitude] Revenue"}, "reserved"),
        ({"user_id": None}, "missing user_id and device_id"),
        ({"user_id": "null"}, "placeholder"),
        ({"user_id": "Anonymous"}, "placeholder"),
        ({"user_id": "00000000-0000-0000-0000-000000000000"}, "placeholder"),
        ({"user_id": "abc"}, "shorter than min_id_length (5)"),
        ({"time": "yesterday"}, "time must be epoch milliseconds"),
        ({"event_properties": [1]}, "event_properties must be an object"),
    ],
)
def test_refused_events(change: dict, needle: str) -> None:
    assert needle in (check_event({**OK, **change}, None) or "")


def test_identify_events_are_predefined_not_reserved() -> None:
    assert check_event({**OK, "event_type": "$identify"}, None) is None
    group = {**OK, "event_type": "$groupidentify", "groups": {"company": "acme"}}
    assert check_event(group, None) is None


def test_short_user_id_with_valid_device_id_is_rejected_naming_min_id_length() -> None:
    """Issue 11 point 10, decided: rejected (never sent without its user), reason says why."""
    reason = check_event({**OK, "user_id": "abc", "device_id": "device-0001"}, None) or ""
    assert "shorter than min_id_length (5)" in reason
    assert "set the min_id_length setting lower" in reason
    assert "keep the event under its device_id alone" in reason


def test_min_id_length_setting_lowers_the_bar() -> None:
    assert check_event({**OK, "user_id": "abc"}, 3) is None


def test_identify_and_group() -> None:
    assert check_identify({"user_id": "user-1", "user_properties": {}}, None) is None
    assert "user_properties" in (check_identify({"user_id": "user-1"}, None) or "")
    assert check_group({"group_type": "company", "group_value": "acme"}) is None
    assert "group_value" in (check_group({"group_type": "company", "group_value": ""}) or "")


def test_oversize() -> None:
    assert check_size(10, 10, "/batch") is None
    assert "over the 10-byte request limit of /batch" in (check_size(11, 10, "/batch") or "")


def test_wrong_types_for_mapped_top_level_fields() -> None:
    assert "session_id must be an integer" in (check_event({**OK, "session_id": "s"}, None) or "")
    assert "platform must be a string" in (check_event({**OK, "platform": 3}, None) or "")


def test_rejects_file_cut_by_a_kill_gets_its_line_ended_before_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b'{"stream": "s", "reason": "ok"}\n{"stream": "s", "rea')
    writer = RejectsWriter(path)
    writer.write(stream="t", record={"a": 1}, payload=None, reason="why", endpoint="/batch")
    writer.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b'{"stream": "s", "rea'
    assert json.loads(lines[2])["reason"] == "why"
