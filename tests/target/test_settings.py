"""Settings and stream mapping validation: every error names the setting or stream and key.

Types, ranges, enums and patterns are CONFIG_SCHEMA's (checked by the SDK when the target is
built); the stream mapping rules are settings.py's. Each default is written once, in the schema.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from singer_sdk.exceptions import ConfigValidationError
from target_amplitude.config_schema import CONFIG_SCHEMA
from target_amplitude.settings import (
    SettingsError,
    TargetSettings,
    looks_like_events,
    missing_mapping_message,
    parse_stream_mapping,
    target_settings,
)
from target_amplitude.target import TargetAmplitude

BASE = {"api_key": "k-12345", "dry_run": True}
ROOT = Path(__file__).resolve().parents[2]


def _settings(config: dict) -> TargetSettings:
    target = TargetAmplitude(config=config)
    target.close()
    return target.settings


def test_defaults_come_from_the_schema_and_region_urls() -> None:
    s = _settings(BASE)
    assert s.base_url == "https://api2.amplitude.com"
    assert s.max_concurrent_requests == 4
    assert s.rejected_records_path == "rejected-records.jsonl"
    assert s.retry_deadline_seconds == 300
    eu = _settings({**BASE, "data_region": "EU Residency Server"})
    assert eu.base_url == "https://api.eu.amplitude.com"
    proxied = _settings({**BASE, "api_url": "http://127.0.0.1:9/eu/"})
    assert proxied.base_url == "http://127.0.0.1:9/eu"


def test_an_explicit_null_gets_the_schema_default() -> None:
    # The SDK fills in defaults of unset keys only; null means "unset" too.
    s = target_settings({"api_key": "k-12345", "max_concurrent_requests": None})
    assert (
        s.max_concurrent_requests
        == CONFIG_SCHEMA["properties"]["max_concurrent_requests"]["default"]
    )
    assert s.data_region == "Standard Server"


def test_api_key_not_in_repr() -> None:
    assert "k-12345" not in repr(_settings(BASE))


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "'api_key' is a required property"),
        ({**BASE, "api_key": "  "}, "config['api_key']"),
        ({**BASE, "data_region": "Mars"}, "config['data_region']"),
        ({**BASE, "events_endpoint": "ftp"}, "config['events_endpoint']"),
        ({**BASE, "min_id_length": 0}, "config['min_id_length']"),
        ({**BASE, "max_concurrent_requests": 0}, "config['max_concurrent_requests']"),
        ({**BASE, "max_concurrent_requests": "4"}, "config['max_concurrent_requests']"),
        ({**BASE, "retry_deadline_seconds": -1}, "config['retry_deadline_seconds']"),
        ({**BASE, "read_timeout_seconds": 0}, "config['read_timeout_seconds']"),
        ({**BASE, "fail_on_rejected": "yes"}, "config['fail_on_rejected']"),
        ({**BASE, "rejected_records_path": ""}, "config['rejected_records_path']"),
        ({**BASE, "api_url": "localhost:80"}, "config['api_url']"),
        ({**BASE, "api_url": "http://h/p?x=1"}, "config['api_url']"),
        ({**BASE, "stream_mappings": []}, "config['stream_mappings']"),
        (
            {**BASE, "stream_mappings": {"s": {"object": "user", "colour": 1}}},
            "config['stream_mappings']['s']",
        ),
        ({**BASE, "stream_mappings": {"s": {"object": "user"}}}, r"s.user_id_field: required"),
    ],
)
def test_bad_settings_name_the_setting(config: dict, needle: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TargetAmplitude(config=config)
    assert any(needle in e for e in info.value.errors), info.value.errors


def test_meltano_yml_settings_match_about() -> None:
    """meltano.yml's target-amplitude settings: labels, kinds, defaults, options from --about."""
    out = subprocess.run(
        ["target-amplitude", "--about", "--format=json"], check=True, capture_output=True
    ).stdout
    about = json.loads(out)
    properties = about["settings"]["properties"]
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (definition,) = [p for p in project["plugins"]["loaders"] if p["name"] == "target-amplitude"]
    assert sorted(definition["capabilities"]) == sorted(about["capabilities"])
    assert "structured-logging" in about["capabilities"]
    kinds = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean"}
    kinds["object"] = "object"
    for setting in definition["settings"]:
        schema = properties[setting["name"]]
        where = f"meltano.yml target-amplitude.{setting['name']}"
        assert setting["label"] == schema["title"], where
        assert setting.get("value") == schema.get("default"), where
        assert bool(setting.get("sensitive")) == bool(schema.get("secret")), where
        if "enum" in schema:
            assert setting["kind"] == "options", where
            assert [o["value"] for o in setting["options"]] == schema["enum"], where
        else:
            (json_type,) = [x for x in schema["type"] if x != "null"]
            assert setting["kind"] == kinds[json_type], where


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
    with pytest.raises(SettingsError, match=needle):
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


def test_user_mapping_deletion_and_cohort_hosts_follow_the_region() -> None:
    from target_amplitude.settings import target_settings  # noqa: PLC0415

    base = {"api_key": "k", "secret_key": "s"}
    us = target_settings(base)
    assert (us.usermap_url, us.analytics_url) == (
        "https://api.amplitude.com",
        "https://amplitude.com",
    )
    eu = target_settings({**base, "data_region": "EU Residency Server"})
    assert (eu.usermap_url, eu.analytics_url) == (
        "https://api.eu.amplitude.com",
        "https://analytics.eu.amplitude.com",
    )
    proxied = target_settings(
        {**base, "api_url": "http://proxy.local/amp/", "analytics_api_url": "http://rest.local"}
    )
    assert (proxied.usermap_url, proxied.analytics_url) == (
        "http://proxy.local/amp",
        "http://rest.local",
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"object": "user_mapping", "user_id_field": "u"}, "global_user_id_field: required"),
        (
            {"object": "deletion", "user_id_field": "u", "amplitude_id_field": "a"},
            "set exactly one of user_id_field or amplitude_id_field",
        ),
        ({"object": "deletion", "user_id_field": "u", "event_type": "x"}, "event_type: not used"),
        ({"object": "cohort", "user_id_field": "u", "cohort_owner": "o@x.io"}, "cohort_name"),
        ({"object": "cohort", "user_id_field": "u", "cohort_name": "VIP"}, "cohort_owner"),
        ({"object": "user", "user_id_field": "u", "cohort_name": "VIP"}, "cohort_name: applies"),
    ],
)
def test_admin_mapping_rules(mapping: dict, message: str) -> None:
    from target_amplitude.settings import SettingsError, parse_stream_mapping  # noqa: PLC0415

    with pytest.raises(SettingsError, match=message):
        parse_stream_mapping("s", mapping)
