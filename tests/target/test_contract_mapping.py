"""Issue 11: the mapping follows Amplitude's real contract (pure: record in, payload out)."""

from __future__ import annotations

import typing as t

import pytest
from target_amplitude.mapping import (
    RecordRejectedError,
    RecordSkippedError,
    clear_all_identification,
    insert_id_for,
    map_record,
)
from target_amplitude.settings import SettingsError, parse_stream_mapping, passthrough_mapping

EXPORT_IDENTIFY = {
    "uuid": "0f0e7a54-8d7c-4b0a-9d8e-1c2b3a4d5e6f",
    "$insert_id": "ins-identify-1",
    "event_type": "$identify",
    "user_id": "user-00042",
    "device_id": "device-00042",
    "event_time": "2026-01-01 10:00:00.250000",
    "server_upload_time": "2026-01-01 10:00:01.000000",
    "amplitude_id": 123,
    "user_properties": {"plan": "pro", "seats": 3},
    "group_properties": {},
    "groups": {},
    "event_properties": {},
    "data": {"path": "/batch"},
    "app": 187520,
}


def _map(raw: dict[str, t.Any], record: dict[str, t.Any], keys: t.Sequence[str] = ()) -> dict:
    return map_record(parse_stream_mapping("s", raw), record, keys, skip_user_properties_sync=False)


def _passthrough(record: dict[str, t.Any], keys: t.Sequence[str] = (), *, skip: bool = False):
    return map_record(passthrough_mapping("events"), record, keys, skip_user_properties_sync=skip)


# Point 1: $identify / $groupidentify are events like any other.
def test_exported_identify_replays_as_identify_with_set_and_its_insert_id() -> None:
    event = _passthrough(EXPORT_IDENTIFY, ("uuid",), skip=True)
    assert event["event_type"] == "$identify"
    assert event["insert_id"] == "ins-identify-1"
    assert event["user_properties"] == {"$set": {"plan": "pro", "seats": 3}}
    assert "$skip_user_properties_sync" not in event  # even with the setting on
    assert event["time"] == 1767261600250


def test_exported_groupidentify_keeps_group_properties_as_operations() -> None:
    record = {
        **EXPORT_IDENTIFY,
        "event_type": "$groupidentify",
        "groups": {"company": "acme"},
        "group_properties": {"industry": "retail"},
        "user_properties": {},
    }
    event = _passthrough(record)
    assert event["groups"] == {"company": "acme"}
    assert event["group_properties"] == {"$set": {"industry": "retail"}}
    assert "$skip_user_properties_sync" not in event


def test_ordinary_exported_events_still_skip_the_profile_sync() -> None:
    event = _passthrough({**EXPORT_IDENTIFY, "event_type": "Page View"})
    assert event["$skip_user_properties_sync"] is True
    assert event["user_properties"] == {"plan": "pro", "seats": 3}
    assert "group_properties" not in event


def test_identify_is_mappable_from_any_stream() -> None:
    raw = {
        "object": "event",
        "event_type": "$identify",
        "user_id_field": "id",
        "user_properties": ["plan"],
        "insert_id_field": "change_id",
    }
    event = _map(raw, {"id": "user-00001", "plan": "pro", "change_id": 9})
    assert event["user_properties"] == {"$set": {"plan": "pro"}}
    assert event["insert_id"] == "s:9"
    assert "$skip_user_properties_sync" not in event


# Point 2: insert_id_field values are namespaced by stream; Amplitude insert_ids are kept.
def test_insert_id_field_values_of_two_streams_never_collide() -> None:
    base = {"object": "event", "user_id_field": "uid", "insert_id_field": "id"}
    row = {"id": 5, "uid": "user-00001"}
    orders = map_record(
        parse_stream_mapping("orders", {**base, "event_type": "Order"}),
        row,
        (),
        skip_user_properties_sync=False,
    )
    refunds = map_record(
        parse_stream_mapping("refunds", {**base, "event_type": "Refund"}),
        row,
        (),
        skip_user_properties_sync=False,
    )
    assert (orders["insert_id"], refunds["insert_id"]) == ("orders:5", "refunds:5")
    ingest = _passthrough({"event_type": "E", "user_id": "user-00001", "insert_id": "abc"})
    assert ingest["insert_id"] == "abc"  # already an Amplitude insert_id: as is


# Point 3: the default hash leaves out _sdc_* and includes the mapped time.
def test_default_insert_id_ignores_sdc_metadata_and_follows_the_time() -> None:
    raw = {"object": "event", "event_type": "E", "user_id_field": "u", "time_field": "at"}
    row = {"u": "user-00001", "at": "2026-01-01T00:00:00Z", "n": 1}
    first = _map(raw, {**row, "_sdc_received_at": "2026-01-01T01:00:00Z", "_sdc_sequence": 1})
    rerun = _map(raw, {**row, "_sdc_received_at": "2026-02-01T01:00:00Z", "_sdc_sequence": 2})
    assert first["insert_id"] == rerun["insert_id"]
    keyed = _map(raw, {**row, "id": 7}, ("id",))
    updated = _map(raw, {**row, "id": 7, "at": "2026-01-02T00:00:00Z"}, ("id",))
    assert keyed["insert_id"] != updated["insert_id"]  # an update of one row is a new event
    assert keyed["insert_id"] == _map(raw, {**row, "id": 7, "n": 2}, ("id",))["insert_id"]
    assert insert_id_for("s", {"id": 7}, ["id"], 1) != insert_id_for("s", {"id": 7}, ["id"], 2)


# Point 4: epoch seconds, digit strings, null times.
@pytest.mark.parametrize("value", [1_767_225_600, "1767225600", "20240131", 1.5e9])
def test_numeric_time_before_2001_as_ms_is_rejected_naming_the_column(value: object) -> None:
    raw = {"object": "event", "event_type": "E", "user_id_field": "u", "time_field": "ts"}
    with pytest.raises(RecordRejectedError, match=r"time field 'ts'.*time_unit: s"):
        _map(raw, {"u": "user-00001", "ts": value})


def test_time_unit_seconds_reads_epoch_seconds() -> None:
    raw = {
        "object": "event",
        "event_type": "E",
        "user_id_field": "u",
        "time_field": "ts",
        "time_unit": "s",
    }
    assert _map(raw, {"u": "user-00001", "ts": 1_767_225_600})["time"] == 1_767_225_600_000
    assert _map(raw, {"u": "user-00001", "ts": "1767225600.5"})["time"] == 1_767_225_600_500
    assert _map(raw, {"u": "user-00001", "ts": "2026-01-01T00:00:00Z"})["time"] == 1767225600000
    with pytest.raises(RecordRejectedError, match="before 2001"):
        _map(raw, {"u": "user-00001", "ts": 20240131})


def test_null_time_is_rejected_unless_upload_time() -> None:
    raw = {"object": "event", "event_type": "E", "user_id_field": "u", "time_field": "ts"}
    with pytest.raises(RecordRejectedError, match=r"null_time: upload_time"):
        _map(raw, {"u": "user-00001", "ts": None})
    event = _map({**raw, "null_time": "upload_time"}, {"u": "user-00001", "ts": None})
    assert "time" not in event
    with pytest.raises(RecordRejectedError, match="null"):
        _passthrough({"event_type": "E", "user_id": "user-00001", "time": None})


def test_time_settings_are_validated() -> None:
    base = {"object": "event", "event_type": "E", "user_id_field": "u", "time_field": "ts"}
    with pytest.raises(SettingsError, match=r"stream_mappings.s.time_unit: must be one of ms, s"):
        parse_stream_mapping("s", {**base, "time_unit": "us"})
    with pytest.raises(SettingsError, match=r"stream_mappings.s.null_time"):
        parse_stream_mapping("s", {**base, "null_time": "now"})
    with pytest.raises(SettingsError, match=r"null_behavior: applies to object: user"):
        parse_stream_mapping("s", {**base, "null_behavior": "unset"})


# Point 6: $clearAll goes alone, before the values.
def test_clear_all_is_its_own_identification() -> None:
    raw = {"object": "user", "user_id_field": "id", "operations": {"clear_all": True}}
    ident = _map(raw, {"id": "user-00001", "plan": "pro"})
    assert ident == {"user_id": "user-00001", "user_properties": {"plan": "pro"}}
    assert clear_all_identification(ident) == {
        "user_id": "user-00001",
        "user_properties": {"$clearAll": "-"},
    }


# Point 9: only export-shaped records lose server-side fields.
def test_ingest_shaped_records_keep_every_column_as_an_event_property() -> None:
    record = {
        "event_type": "Signup",
        "user_id": "user-00001",
        "uuid": "row-uuid",
        "app": "mobile",
        "data": {"k": 1},
        "library": "books",
        "paying": True,
        "source_id": 4,
        "device_type": "phone",
        "_sdc_received_at": "2026-01-01T00:00:00Z",
    }
    event = _passthrough(record)
    assert event["event_properties"] == {
        "uuid": "row-uuid",
        "app": "mobile",
        "data": {"k": 1},
        "library": "books",
        "paying": True,
        "source_id": 4,
        "device_type": "phone",
    }
    assert "$skip_user_properties_sync" not in event  # profile updates stay on


def test_export_shape_needs_both_insert_id_and_server_upload_time() -> None:
    one_marker = {"event_type": "E", "user_id": "user-00001", "server_upload_time": "x"}
    assert _passthrough(one_marker)["event_properties"] == {"server_upload_time": "x"}
    exported = _passthrough({**one_marker, "$insert_id": None, "app": 1})
    assert "event_properties" not in exported
    assert exported["$skip_user_properties_sync"] is True


# Point 11: nulls and deletes.
def test_null_behavior_unset_clears_the_property() -> None:
    raw = {"object": "user", "user_id_field": "id"}
    row = {"id": "user-00001", "plan": None, "seats": 3}
    assert _map(raw, row)["user_properties"] == {"seats": 3}
    unset = _map({**raw, "null_behavior": "unset"}, row)
    assert unset["user_properties"] == {"$set": {"seats": 3}, "$unset": {"plan": "-"}}
    group = {
        "object": "group",
        "group_type": "company",
        "group_value_field": "id",
        "null_behavior": "unset",
    }
    assert _map(group, {"id": "acme", "tier": None})["group_properties"] == {
        "$unset": {"tier": "-"}
    }


def test_on_delete_unset_ignore_and_skip_for_profiles() -> None:
    raw = {"object": "user", "user_id_field": "id", "operations": {"add": ["logins"]}}
    row = {"id": "user-00001", "plan": "pro", "logins": 2, "_sdc_deleted_at": "2026-01-01"}
    assert _map(raw, row)["user_properties"] == {"$set": {"plan": "pro"}, "$add": {"logins": 2}}
    unset = _map({**raw, "on_delete": "unset"}, row)
    assert unset == {
        "user_id": "user-00001",
        "user_properties": {"$unset": {"plan": "-", "logins": "-"}},
    }
    with pytest.raises(RecordSkippedError):
        _map({**raw, "on_delete": "skip"}, row)
    hard = parse_stream_mapping("s", {"object": "device", "device_id_field": "d"}, hard_delete=True)
    assert hard.on_delete == "unset"


def test_a_deleted_row_never_becomes_an_event() -> None:
    raw = {"object": "event", "event_type": "E", "user_id_field": "u"}
    with pytest.raises(RecordSkippedError, match="never sent for a delete"):
        _map(raw, {"u": "user-00001", "_sdc_deleted_at": "2026-01-01T00:00:00Z"})
    with pytest.raises(RecordSkippedError):
        _passthrough({"event_type": "E", "user_id": "user-00001", "_sdc_deleted_at": "2026"})
    assert _map(raw, {"u": "user-00001", "_sdc_deleted_at": None})["event_type"] == "E"
    with pytest.raises(SettingsError, match="on_delete: events only support skip"):
        parse_stream_mapping("s", {**raw, "on_delete": "ignore"})
