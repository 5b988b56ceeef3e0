"""Settings and stream mapping validation: every error names the setting or stream and key."""

from __future__ import annotations

import pytest
from target_amplitude.settings import (
    ConfigError,
    looks_like_events,
    missing_mapping_message,
    parse_settings,
    parse_stream_mapping,
)

BASE = {"api_key": "k-12345"}


def test_defaults_and_region_urls() -> None:
    s = parse_settings(BASE)
    assert s.base_url == "https://api2.amplitude.com"
    assert s.max_concurrent_requests == 4
    assert s.rejected_records_path == "rejected-records.jsonl"
    assert s.retry_deadline_seconds == 300
    eu = parse_settings({**BASE, "data_region": "EU Residency Server"})
    assert eu.base_url == "https://api.eu.amplitude.com"
    proxied = parse_settings({**BASE, "api_url": "http://127.0.0.1:9/eu/"})
    assert proxied.base_url == "http://127.0.0.1:9/eu"


def test_api_key_not_in_repr() -> None:
    assert "k-12345" not in repr(parse_settings(BASE))


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "'api_key' is required"),
        ({**BASE, "data_region": "Mars"}, "data_region"),
        ({**BASE, "events_endpoint": "ftp"}, "events_endpoint"),
        ({**BASE, "min_id_length": 0}, "min_id_length"),
        ({**BASE, "max_concurrent_requests": 0}, "max_concurrent_requests"),
        ({**BASE, "retry_deadline_seconds": -1}, "retry_deadline_seconds"),
        ({**BASE, "api_url": "localhost:80"}, "api_url"),
        ({**BASE, "stream_mappings": []}, "stream_mappings"),
    ],
)
def test_bad_settings_name_the_setting(config: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_settings(config)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"object": "thing"}, r"stream_mappings\.s\.object: must be one of"),
        ({"object": "event", "user_id_field": "u"}, r"s\.event_type: set exactly one"),
        (
            {"object": "event", "event_type": "E", "event_type_field": "t", "user_id_field": "u"},
            r"s\.event_type: set exactly one",
        ),
        ({"object": "event", "event_type": "E"}, r"s\.user_id_field: an event needs"),
        ({"object": "user"}, r"s\.user_id_field: required"),
        ({"object": "device", "user_id_field": "u"}, r"s\.device_id_field: required"),
        ({"object": "group", "group_type": "company"}, r"s\.group_value_field: required"),
        (
            {
                "object": "group",
                "group_type": "c",
                "group_value_field": "v",
                "operations": {"remove": ["x"]},
            },
            r"s\.operations\.remove: unknown operation",
        ),
        (
            {"object": "user", "user_id_field": "id", "operations": {"add": "logins"}},
            r"s\.operations\.add: must be a list",
        ),
        ({"object": "user", "user_id_field": "id", "colour": 1}, r"s\.colour: unknown key"),
        ({"object": "user", "user_id_field": "id", "fields": {"nope": "x"}}, r"s\.fields\.nope"),
    ],
)
def test_bad_mapping_names_stream_and_key(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_stream_mapping("s", raw)


def test_all_ten_user_operations_parse() -> None:
    ops = {
        name: ["f_" + name]
        for name in (
            "set",
            "set_once",
            "add",
            "append",
            "prepend",
            "unset",
            "pre_insert",
            "post_insert",
            "remove",
        )
    }
    m = parse_stream_mapping(
        "u", {"object": "user", "user_id_field": "id", "operations": {**ops, "clear_all": True}}
    )
    assert dict(m.operations) == {
        "$set": ("f_set",),
        "$setOnce": ("f_set_once",),
        "$add": ("f_add",),
        "$append": ("f_append",),
        "$prepend": ("f_prepend",),
        "$unset": ("f_unset",),
        "$preInsert": ("f_pre_insert",),
        "$postInsert": ("f_post_insert",),
        "$remove": ("f_remove",),
    }
    assert m.clear_all is True


def test_unmapped_stream_detection_and_message() -> None:
    assert looks_like_events({"properties": {"event_type": {}, "device_id": {}}})
    assert not looks_like_events({"properties": {"event_type": {}}})
    msg = missing_mapping_message("customers", {"properties": {"customer_id": {}, "name": {}}})
    assert "stream_mappings:" in msg
    assert "customers:" in msg
    assert "user_id_field: customer_id" in msg


def test_unmapped_stream_message_suggests_deselecting_and_never_a_non_id_field() -> None:
    msg = missing_mapping_message("active_users", {"properties": {"date": {}, "statistics": {}}})
    assert "leave it out of the tap's selection" in msg
    assert "user_id_field: date" not in msg
    assert "user_id_field: <a field>" in msg
    devices = missing_mapping_message("devs", {"properties": {"device_id": {}, "owner": {}}})
    assert "object: device" in devices
    assert "device_id_field: device_id" in devices
    accounts = missing_mapping_message("accts", {"properties": {"account_id": {}, "name": {}}})
    assert "group_value_field: account_id" in accounts
