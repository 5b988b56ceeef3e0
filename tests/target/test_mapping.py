"""Record -> payload mapping for each object kind, export-shape translation, insert ids."""

from __future__ import annotations

import decimal

import pytest
from target_amplitude.mapping import (
    RecordRejectedError,
    insert_id_for,
    map_amplitude_shaped,
    map_record,
    to_epoch_ms,
)
from target_amplitude.settings import parse_stream_mapping, passthrough_mapping


def _map(raw: dict, record: dict, keys: tuple[str, ...] = (), **kw: bool) -> dict:
    return map_record(
        parse_stream_mapping("s", raw),
        record,
        keys,
        skip_user_properties_sync=kw.get("skip", False),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-08-25T11:05:08Z", 1692961508000),
        ("2023-08-25T13:05:08.5+02:00", 1692961508500),
        ("2023-08-25 11:05:08.013000", 1692961508013),
        ("2023-08-25", 1692921600000),
        (1692961508013, 1692961508013),
        ("1692961508013", 1692961508013),
        (decimal.Decimal("1692961508013.0"), 1692961508013),
    ],
)
def test_time_parsing(value: object, expected: int) -> None:
    assert to_epoch_ms(value) == expected


def test_event_mapping_defaults() -> None:
    raw = {
        "object": "event",
        "event_type": "Order Completed",
        "user_id_field": "customer_id",
        "time_field": "created_at",
        "groups": {"company": "company_id"},
        "user_properties": ["plan"],
    }
    record = {
        "order_id": 7,
        "customer_id": 123456,
        "created_at": "2024-01-01T00:00:00Z",
        "amount": decimal.Decimal("9.5"),
        "plan": "pro",
        "company_id": "acme",
    }
    event = _map(raw, record, ("order_id",))
    assert event["event_type"] == "Order Completed"
    assert event["user_id"] == "123456"
    assert event["time"] == 1704067200000
    assert event["event_properties"] == {"order_id": 7, "amount": decimal.Decimal("9.5")}
    assert event["user_properties"] == {"plan": "pro"}
    assert event["groups"] == {"company": "acme"}
    # Deterministic: same key -> same insert_id even if other fields change.
    again = _map(raw, {**record, "amount": 1}, ("order_id",))
    assert again["insert_id"] == event["insert_id"]
    assert "$skip_user_properties_sync" not in event
    assert _map(raw, record, skip=True)["$skip_user_properties_sync"] is True


def test_insert_id_field_and_event_type_field() -> None:
    raw = {
        "object": "event",
        "event_type_field": "kind",
        "device_id_field": "dev",
        "insert_id_field": "oid",
        "event_properties": ["x"],
    }
    event = _map(raw, {"kind": "Click", "dev": "device-1", "oid": "o-1", "x": 1, "y": 2})
    assert event == {
        "event_type": "Click",
        "device_id": "device-1",
        "insert_id": "s:o-1",
        "event_properties": {"x": 1},
    }
    with pytest.raises(RecordRejectedError, match="insert_id field 'oid'"):
        _map(raw, {"kind": "Click", "dev": "device-1"})


def test_bad_time_and_bad_id_are_rejected_with_reason() -> None:
    raw = {"object": "event", "event_type": "E", "user_id_field": "u", "time_field": "t"}
    with pytest.raises(RecordRejectedError, match="time field 't' has an unparseable value"):
        _map(raw, {"u": "user-1", "t": "not a time"})
    with pytest.raises(RecordRejectedError, match="user_id field 'u' must be a string"):
        _map(raw, {"u": {"nested": 1}})


def test_insert_id_whole_record_is_order_independent() -> None:
    assert insert_id_for("s", {"a": 1, "b": 2}, ()) == insert_id_for("s", {"b": 2, "a": 1}, ())
    assert insert_id_for("s", {"a": 1}, ()) != insert_id_for("t", {"a": 1}, ())


def test_user_plain_set_and_operations() -> None:
    plain = _map(
        {"object": "user", "user_id_field": "id"}, {"id": "user-1", "plan": "pro", "gone": None}
    )
    assert plain == {"user_id": "user-1", "user_properties": {"plan": "pro"}}
    raw = {
        "object": "user",
        "user_id_field": "id",
        "groups": {"company": "org"},
        "operations": {
            "set_once": ["signup"],
            "add": ["logins"],
            "append": ["tags"],
            "unset": ["old_plan"],
            "clear_all": False,
        },
    }
    ident = _map(
        raw,
        {
            "id": "user-1",
            "plan": "pro",
            "signup": "2024-01-01",
            "logins": 2,
            "tags": "a",
            "old_plan": "x",
            "org": "acme",
        },
    )
    assert ident["user_properties"] == {
        "$set": {"plan": "pro"},
        "$setOnce": {"signup": "2024-01-01"},
        "$add": {"logins": 2},
        "$append": {"tags": "a"},
        "$unset": {"old_plan": "-"},
    }
    assert ident["groups"] == {"company": "acme"}


def test_field_in_an_operation_is_not_also_set_when_listed_in_user_properties() -> None:
    ident = _map(
        {
            "object": "user",
            "user_id_field": "id",
            "user_properties": ["plan", "tags", "signup"],
            "operations": {"append": ["tags"], "set_once": ["signup"]},
        },
        {"id": "user-1", "plan": "pro", "tags": "beta", "signup": "2024-01-01"},
    )
    assert ident["user_properties"] == {
        "$set": {"plan": "pro"},
        "$append": {"tags": "beta"},
        "$setOnce": {"signup": "2024-01-01"},
    }


def test_device_ties_user() -> None:
    ident = _map(
        {"object": "device", "device_id_field": "d", "user_id_field": "o"},
        {"d": "device-9", "o": "user-9", "model": "X"},
    )
    assert ident == {
        "user_id": "user-9",
        "device_id": "device-9",
        "user_properties": {"model": "X"},
    }


def test_group() -> None:
    raw = {
        "object": "group",
        "group_type": "company",
        "group_value_field": "id",
        "operations": {"add": ["seats"]},
    }
    assert _map(raw, {"id": 42, "name": "Acme", "seats": 3}) == {
        "group_type": "company",
        "group_value": "42",
        "group_properties": {"$set": {"name": "Acme"}, "$add": {"seats": 3}},
    }


def test_export_shape_translated_to_ingest_shape() -> None:
    exported = {
        "uuid": "7c2b",
        "$insert_id": "ins-1",
        "event_type": "Page View",
        "user_id": "user-1",
        "device_id": "dev-1",
        "amplitude_id": 99,
        "event_time": "2026-01-01T10:00:00.000000Z",
        "client_event_time": "2026-01-01 09:00:00.000000",
        "server_upload_time": "x",
        "version_name": "1.2",
        "device_carrier": "Verizon",
        "ip_address": "1.2.3.4",
        "event_properties": {"a": None},
        "data": {"path": "/"},
        "app": 187520,
        "session_id": -1,
        "device_family": "iOS",
        "user_properties": {"plan": "pro"},
    }
    event = map_record(
        passthrough_mapping("events"), exported, ("uuid",), skip_user_properties_sync=False
    )
    assert event == {
        "insert_id": "ins-1",
        "event_type": "Page View",
        "user_id": "user-1",
        "device_id": "dev-1",
        "time": 1767261600000,
        "app_version": "1.2",
        "carrier": "Verizon",
        "ip": "1.2.3.4",
        "event_properties": {"a": None},
        "session_id": -1,
        "user_properties": {"plan": "pro"},
        "$skip_user_properties_sync": True,
    }


def test_ingest_shaped_stream_extra_fields_become_event_properties() -> None:
    event = map_record(
        passthrough_mapping("clicks"),
        {"event_type": "Click", "user_id": "user-1", "button": "buy"},
        (),
        skip_user_properties_sync=False,
    )
    assert event["event_properties"] == {"button": "buy"}
    assert "$skip_user_properties_sync" not in event
    assert len(event["insert_id"]) == 32


def test_auto_detected_event_stream_keeps_a_plan_column_as_an_event_property() -> None:
    event = map_amplitude_shaped(
        "orders",
        {"event_type": "Order", "user_id": "user-1", "plan": "pro", "amount": 3},
        (),
        skip_user_properties_sync=False,
    )
    assert "plan" not in event
    assert event["event_properties"] == {"plan": "pro", "amount": 3}
    tracking = map_amplitude_shaped(
        "orders",
        {"event_type": "Order", "user_id": "user-1", "plan": {"branch": "main"}},
        (),
        skip_user_properties_sync=False,
    )
    assert tracking["plan"] == {"branch": "main"}
