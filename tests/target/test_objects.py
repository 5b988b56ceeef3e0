"""Each object kind and every property operation, end to end into the emulator."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from tests.target.helpers import FAST_RETRIES, props, record, run_target, schema, state
from tests.target.metrics import assert_metrics_agree_with_summary

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator


def _config(emulator: Emulator, mappings: dict[str, t.Any], **extra: t.Any) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "stream_mappings": mappings,
        **FAST_RETRIES,
        **extra,
    }


def test_events_users_devices_groups(emulator: Emulator, tmp_path: Path) -> None:
    mappings = {
        "orders": {
            "object": "event",
            "event_type": "Order Completed",
            "user_id_field": "customer_id",
            "time_field": "created_at",
            "groups": {"company": "company_id"},
            "fields": {"revenue": "amount"},
        },
        "customers": {"object": "user", "user_id_field": "id", "groups": {"company": "org"}},
        "devices": {
            "object": "device",
            "device_id_field": "device_id",
            "user_id_field": "owner_id",
        },
        "accounts": {"object": "group", "group_type": "company", "group_value_field": "id"},
    }
    lines = [
        schema("customers", props("id", "plan", "org")),
        record("customers", {"id": "customer-1", "plan": "pro", "org": "acme-inc"}),
        schema("devices", props("device_id", "owner_id", "model")),
        record("devices", {"device_id": "device-77", "owner_id": "customer-1", "model": "X1"}),
        schema("accounts", {**props("id", "name"), "seats": {"type": "integer"}}),
        record("accounts", {"id": "acme-inc", "name": "Acme", "seats": 12}),
        schema(
            "orders",
            {
                **props("order_id", "customer_id", "created_at", "company_id"),
                "amount": {"type": "number"},
            },
            ["order_id"],
        ),
        record(
            "orders",
            {
                "order_id": "o-1",
                "customer_id": "customer-1",
                "amount": 9.5,
                "created_at": "2026-01-02T10:00:00Z",
                "company_id": "acme-inc",
            },
        ),
        state({"bookmarks": {"orders": "o-1"}}),
    ]
    run = run_target(tmp_path, _config(emulator, mappings), lines)
    assert run.returncode == 0, run.stderr
    assert run.states == [{"bookmarks": {"orders": "o-1"}}]
    assert run.rejected == []
    proj = emulator.project("key-std")
    assert proj.users["customer-1"]["plan"] == "pro"
    assert proj.users["customer-1"]["model"] == "X1"  # the device row shares the user profile
    assert proj.groups[("company", "acme-inc")] == {"name": "Acme", "seats": 12}
    [event] = proj.ingested
    assert event["event_type"] == "Order Completed"
    assert event["user_id"] == "customer-1"
    assert event["time"] == 1767348000000
    assert event["groups"] == {"company": "acme-inc"}
    assert event["revenue"] == 9.5
    assert event["event_properties"] == {"order_id": "o-1"}
    assert "Summary stream=orders in=1 accepted=1 rejected=0" in run.stderr
    assert "Summary endpoint=identify in=2 accepted=2 rejected=0" in run.stderr


def test_all_ten_user_operations(emulator: Emulator, tmp_path: Path) -> None:
    proj = emulator.project("key-std")
    ops = {
        "set_once": ["first_seen"],
        "add": ["logins"],
        "append": ["tags"],
        "prepend": ["history"],
        "unset": ["legacy"],
        "pre_insert": ["pre"],
        "post_insert": ["post"],
        "remove": ["drop"],
    }
    mapping = {"object": "user", "user_id_field": "id", "operations": ops}
    fields = ("id", "plan", "first_seen", "tags", "history", "legacy", "pre", "post", "drop")
    sch = schema("people", {**props(*fields), "logins": {"type": "integer"}})
    rows = [
        {
            "id": "person-1",
            "plan": "free",
            "first_seen": "a",
            "logins": 1,
            "tags": "t1",
            "history": "h1",
            "legacy": "x",
            "pre": "p1",
            "post": "q1",
            "drop": "nothing",
        },
        {
            "id": "person-1",
            "plan": "pro",
            "first_seen": "b",
            "logins": 2,
            "tags": "t2",
            "history": "h2",
            "legacy": "y",
            "pre": "p0",
            "post": "q2",
            "drop": "t1",
        },
    ]
    seed = [
        schema("seed", {**props("id"), "drop": {"type": "array", "items": {"type": "string"}}}),
        record("seed", {"id": "person-1", "drop": ["t1", "keep"]}),
    ]
    seed_mapping = {"object": "user", "user_id_field": "id"}
    run = run_target(
        tmp_path,
        _config(emulator, {"people": mapping, "seed": seed_mapping}),
        [*seed, sch, *(record("people", r) for r in rows)],
    )
    assert run.returncode == 0, run.stderr
    user = proj.users["person-1"]
    assert user["plan"] == "pro"  # $set
    assert user["first_seen"] == "a"  # $setOnce
    assert user["logins"] == 3  # $add
    assert user["tags"] == ["t1", "t2"]  # $append
    assert user["drop"] == ["keep"]  # $remove
    assert user["history"] == ["h2", "h1"]  # $prepend
    assert "legacy" not in user  # $unset
    assert user["pre"] == ["p0", "p1"]  # $preInsert
    assert user["post"] == ["q1", "q2"]  # $postInsert
    # clear_all: a second stream wipes the profile, then sets what it carries.
    run = run_target(
        tmp_path,
        _config(
            emulator,
            {
                "resets": {
                    "object": "user",
                    "user_id_field": "id",
                    "operations": {"clear_all": True},
                }
            },
        ),
        [schema("resets", props("id", "plan")), record("resets", {"id": "person-1", "plan": "x"})],
    )
    assert run.returncode == 0, run.stderr
    assert proj.users["person-1"] == {"plan": "x"}


def test_all_six_group_operations(emulator: Emulator, tmp_path: Path) -> None:
    ops = {
        "set_once": ["founded"],
        "add": ["seats"],
        "append": ["tags"],
        "prepend": ["history"],
        "unset": ["legacy"],
    }
    mapping = {
        "object": "group",
        "group_type_field": "kind",
        "group_value_field": "id",
        "operations": ops,
    }
    fields = ("kind", "id", "name", "founded", "tags", "history", "legacy")
    rows = [
        {
            "kind": "company",
            "id": "acme-inc",
            "name": "Acme",
            "founded": "1990",
            "seats": 2,
            "tags": "a",
            "history": "h1",
            "legacy": "x",
        },
        {
            "kind": "company",
            "id": "acme-inc",
            "name": "Acme 2",
            "founded": "2000",
            "seats": 3,
            "tags": "b",
            "history": "h2",
            "legacy": "y",
        },
    ]
    lines = [
        schema("accounts", {**props(*fields), "seats": {"type": "integer"}}),
        *(record("accounts", r) for r in rows),
    ]
    run = run_target(tmp_path, _config(emulator, {"accounts": mapping}), lines)
    assert run.returncode == 0, run.stderr
    assert emulator.project("key-std").groups[("company", "acme-inc")] == {
        "name": "Acme 2",
        "founded": "1990",
        "seats": 5,
        "tags": ["a", "b"],
        "history": ["h2", "h1"],
    }


def test_validation_rejects_and_fail_on_rejected(emulator: Emulator, tmp_path: Path) -> None:
    mapping = {
        "object": "event",
        "event_type_field": "kind",
        "user_id_field": "uid",
        "time_field": "at",
    }
    rows = [
        {"kind": "Good", "uid": "user-00001", "at": "2026-01-02T00:00:00Z"},
        {"kind": "Good", "uid": "abc", "at": "2026-01-02T00:00:00Z"},
        {"kind": "[Amplitude] Start Session", "uid": "user-00002", "at": "2026-01-02T00:00:00Z"},
        {"kind": "Good", "uid": "undefined", "at": "2026-01-02T00:00:00Z"},
        {"kind": "Good", "uid": "user-00003", "at": "tomorrow"},
        {"kind": "Good", "uid": None, "at": "2026-01-02T00:00:00Z"},
        {"kind": 5, "uid": "user-00004", "at": "2026-01-02T00:00:00Z"},  # SCHEMA mismatch
    ]
    lines = [
        schema("ev", props("kind", "uid", "at")),
        *(record("ev", r) for r in rows),
        state({"done": True}),
    ]
    run = run_target(tmp_path, _config(emulator, {"ev": mapping}, fail_on_rejected=True), lines)
    assert run.returncode == 1
    assert "fail_on_rejected" in run.stderr
    assert run.states == [{"done": True}]  # delivered everything else first
    assert len(emulator.project("key-std").ingested) == 1
    reasons = [r["reason"] for r in run.rejected]
    assert len(reasons) == 6
    assert "min_id_length" in reasons[0]
    assert "reserved" in reasons[1]
    assert "placeholder" in reasons[2]
    assert "unparseable" in reasons[3]
    assert "missing user_id and device_id" in reasons[4]
    assert "SCHEMA" in reasons[5]
    assert {r["stream"] for r in run.rejected} == {"ev"}
    assert run.rejected[0]["record"] == rows[1]
    assert run.rejected[0]["payload"]["user_id"] == "abc"
    assert "key-std" not in (tmp_path / "rejected.jsonl").read_text()


def test_dry_run_sends_nothing_and_counts(emulator: Emulator, tmp_path: Path) -> None:
    mapping = {"object": "user", "user_id_field": "id"}
    lines = [
        schema("u", props("id", "plan")),
        *(record("u", {"id": f"user-{i:04d}", "plan": "p"}) for i in range(5)),
        state({"bookmarks": {"u": {"replication_key_value": "5"}}}),
    ]
    run = run_target(tmp_path, _config(emulator, {"u": mapping}, dry_run=True), lines)
    assert run.returncode == 0, run.stderr
    assert emulator.requests_to("/identify") == []
    assert "Summary endpoint=identify in=5 would_send=5 rejected=0" in run.stderr
    # Nothing was sent: a STATE saved by Meltano would make the real run skip these records.
    assert run.states == []
    assert "dry_run: STATE messages are not emitted" in run.stderr


def test_unmapped_stream_fails_at_schema_before_sending(emulator: Emulator, tmp_path: Path) -> None:
    lines = [
        schema("clicks", props("event_type", "user_id")),
        record("clicks", {"event_type": "Click", "user_id": "user-00001"}),
        schema("customers", props("customer_id", "name")),
        record("customers", {"customer_id": "c-00001", "name": "n"}),
    ]
    run = run_target(tmp_path, _config(emulator, {}), lines)
    assert run.returncode == 1
    assert "Stream 'customers' has no entry in stream_mappings" in run.stderr
    assert "user_id_field: customer_id" in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.requests_to("/batch") == []  # nothing sent, not even the clicks


def test_mapping_naming_unknown_field_fails_at_schema(emulator: Emulator, tmp_path: Path) -> None:
    mapping = {"object": "user", "user_id_field": "uid"}
    run = run_target(tmp_path, _config(emulator, {"u": mapping}), [schema("u", props("id"))])
    assert run.returncode == 1
    assert "stream_mappings.u: field 'uid' is not in the stream's SCHEMA" in run.stderr


def test_identify_event_rows_are_delivered(emulator: Emulator, tmp_path: Path) -> None:
    """Amplitude accepts $identify events (issue 9): a row of that kind is delivered."""
    mapping = {
        "object": "event",
        "event_type_field": "kind",
        "user_id_field": "uid",
        "time_field": "at",
    }
    row = {"kind": "$identify", "uid": "user-00002", "at": "2026-01-02T00:00:00Z"}
    lines = [schema("ev", props("kind", "uid", "at")), record("ev", row), state({"done": True})]
    run = run_target(tmp_path, _config(emulator, {"ev": mapping}), lines)
    assert run.returncode == 0, run.stderr
    assert run.rejected == []
    assert [e["event_type"] for e in emulator.project("key-std").ingested] == ["$identify"]


@pytest.mark.parametrize("state_between", [False, True])
def test_a_schema_change_mid_stream_counts_every_record_in_the_metrics(
    emulator: Emulator, tmp_path: Path, state_between: bool
) -> None:
    """A changed SCHEMA makes the SDK start a new sink for the stream; the one it replaced still
    logs its record_count METRIC, also when a STATE drains it before the end (the SDK then
    drops it without its clean-up): the METRIC lines add up to the summary line."""
    emulator.reset(data=True)
    columns = {**props("insert_id", "event_type", "user_id"), "time": {"type": "integer"}}
    lines = [schema("events", columns)]
    lines += [
        record(
            "events",
            {
                "insert_id": f"a{i}",
                "event_type": "Viewed",
                "user_id": f"user-{i}",
                "time": 1767225600000 + i,
            },
        )
        for i in range(45)
    ]
    if state_between:
        lines.append(state({"upto": 45}))
    lines.append(schema("events", {**columns, **props("plan")}))
    lines += [
        record(
            "events",
            {
                "insert_id": f"b{i}",
                "event_type": "Viewed",
                "user_id": f"user-{i}",
                "time": 1767225600000 + i,
                "plan": "pro",
            },
        )
        for i in range(45)
    ]
    lines.append(state({"upto": 90}))
    config = {"api_key": "key-std", "api_url": emulator.base_url, "batch_size_rows": 10}
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert run.states[-1] == {"upto": 90}
    assert len(emulator.project("key-std").ingested) == 90, run.stderr[-3000:]
    assert_metrics_agree_with_summary(run.stderr, "events", "/batch")
