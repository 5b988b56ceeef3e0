"""Bad input to the target: each case gets a clear error or a rejected record with its reason,
and nothing valid alongside is lost (the valid records are counted in the emulator).

What a user wants, decided per case:
- A line that is not a Singer message (malformed JSON, no "type", not an object) or a RECORD
  before its SCHEMA: the input itself is broken, so the run must stop; skipping the line could
  move STATE past a record nobody will see again. It should stop with one message naming the
  line number, after delivering and checkpointing everything before the line, and never emit a
  STATE from after it.
- A record the target can read but not send (schema mismatch, wrong type in a mapped field,
  an id or event type Amplitude refuses, oversize): rejected with its reason, the run goes on.
- A stream nobody mapped that does not look like events: a configuration error at its SCHEMA,
  before any of its records is sent, with the mapping to add.
"""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import pytest
from amplitude_emulator import Emulator

from tests.reliability.ledger import assert_each_exactly_once, summary
from tests.target.helpers import FAST_RETRIES, Run, props, record, run_target, schema, state

pytestmark = pytest.mark.reliability


@pytest.fixture
def emu(clean_emulator: Emulator) -> Emulator:
    return clean_emulator


def _config(emu: Emulator, **extra: t.Any) -> dict[str, t.Any]:
    return {"api_key": "key-std", "api_url": emu.base_url, **FAST_RETRIES, **extra}


def _stored_rows(emu: Emulator) -> list[int]:
    return [e["event_properties"]["row"] for e in emu.project("key-std").ingested]


# -- lines that are not Singer messages --------------------------------------------------------

TICK_PROPS = {**props("event_type", "device_id"), "row": {"type": "integer"}}
TICK_SCHEMA = schema("ticks", TICK_PROPS)
BEFORE, AFTER = 30, 10
BAD_LINE_NUMBER = 1 + BEFORE + 1 + 1  # SCHEMA, records, STATE, then the bad line

BAD_LINES = {
    "malformed-json": '{"type": "RECORD", "stream": "ticks", "record": {"event_ty',
    "record-before-its-schema": record("ghost", {"event_type": "Tick", "device_id": "dev-00001"}),
    "no-type-key": json.dumps({"stream": "ticks", "record": {"row": -1}}),
    "not-an-object": "[1, 2, 3]",
}


def _tick(row: int) -> str:
    return record("ticks", {"event_type": "Tick", "device_id": f"device-{row % 3:05d}", "row": row})


def _around_bad_line(bad: str) -> list[str]:
    return [
        TICK_SCHEMA,
        *(_tick(n) for n in range(BEFORE)),
        state({"upto": BEFORE}),
        bad,
        *(_tick(n) for n in range(BEFORE, BEFORE + AFTER)),
        state({"upto": BEFORE + AFTER}),
    ]


def _bad_line_run(emu: Emulator, tmp_path: Path, case: str) -> Run:
    return run_target(tmp_path, _config(emu), _around_bad_line(BAD_LINES[case]))


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_stops_the_run_and_no_state_passes_it(
    emu: Emulator, tmp_path: Path, case: str
) -> None:
    run = _bad_line_run(emu, tmp_path, case)
    assert run.returncode == 1
    assert all(s == {"upto": BEFORE} for s in run.states)  # never a STATE from after the line
    assert set(_stored_rows(emu)) <= set(range(BEFORE + AFTER))


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_fails_with_one_message_naming_its_line_number(
    emu: Emulator, tmp_path: Path, case: str
) -> None:
    run = _bad_line_run(emu, tmp_path, case)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert re.search(rf"\bline {BAD_LINE_NUMBER}\b", run.stderr), run.stderr[-2000:]


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_everything_before_a_bad_line_is_delivered_and_checkpointed(
    emu: Emulator, tmp_path: Path, case: str
) -> None:
    run = _bad_line_run(emu, tmp_path, case)
    assert run.returncode == 1
    assert sorted(_stored_rows(emu)) == list(range(BEFORE))
    assert run.states == [{"upto": BEFORE}]


# -- records that cannot be sent: rejected with a reason, the rest delivered -------------------

ORDERS_MAPPING = {
    "object": "event",
    "event_type_field": "kind",
    "user_id_field": "uid",
    "device_id_field": "dev",
    "time_field": "at",
    "insert_id_field": "oid",
    "groups": {"company": "org"},
    "fields": {"platform": "plat", "session_id": "sess"},
}
# Loose types on purpose: the mapping's own checks are under test, not the SCHEMA's.
ORDERS_SCHEMA = schema(
    "orders",
    {k: {} for k in ("kind", "uid", "dev", "at", "oid", "org", "plat", "sess")}
    | {"row": {"type": "integer"}},
    ["oid"],
)
VALID_ORDER = {
    "kind": "Order Completed",
    "uid": "user-00001",
    "dev": "device-00001",
    "at": "2026-01-02T10:00:00Z",
    "org": "acme-inc",
    "plat": "web",
    "sess": 1767348000000,
}
# (change to a valid order, reason the rejected file must give)
BAD_ORDERS: list[tuple[dict[str, t.Any], str]] = [
    ({"uid": {"id": 1}}, "user_id field 'uid' must be a string or an integer"),
    ({"uid": 12.5}, "user_id field 'uid' must be a string or an integer"),
    ({"dev": ["a", "b"]}, "device_id field 'dev' must be a string or an integer"),
    ({"at": "yesterday"}, "time field 'at' has an unparseable value 'yesterday'"),
    ({"at": {"ms": 1}}, "time field 'at' has an unparseable value"),
    ({"kind": 42}, "event_type must be a non-empty string"),
    ({"kind": ""}, "event_type must be a non-empty string"),
    ({"kind": "[Amplitude] Start Session"}, "reserved"),
    ({"at": 1767348000}, "time_unit: s"),  # epoch seconds: never a 1970 event
    ({"at": None}, "null_time: upload_time"),
    ({"kind": "[Amplitude] Merged User"}, "reserved"),
    ({"kind": "[Amplitude] Revenue"}, "reserved"),
    ({"plat": 3}, "platform must be a string"),
    ({"sess": "morning"}, "session_id must be an integer"),
    ({"org": {"name": "acme"}}, "groups.company must be a string or an integer"),
    ({"oid": None}, "insert_id field 'oid' is missing or null"),
    ({"uid": None, "dev": None}, "missing user_id and device_id"),
    *(
        ({"uid": refused}, "placeholder Amplitude refuses")
        for refused in (
            "null",
            "anonymous",
            "N/A",
            "undefined",
            "0",
            "-1",
            "{}",
            "lmy47d",
            "",
            "00000000-0000-0000-0000-000000000000",
        )
    ),
    ({"dev": "nil"}, "placeholder Amplitude refuses"),
    ({"uid": "abc"}, "shorter than min_id_length (5)"),
]
VALID_ORDERS = 25


def test_unsendable_events_are_rejected_with_their_reason_and_the_valid_ones_stored(
    emu: Emulator, tmp_path: Path
) -> None:
    rows: list[dict[str, t.Any]] = []
    reasons: dict[int, str] = {}
    for n in range(VALID_ORDERS):
        rows.append({**VALID_ORDER, "oid": f"order-{n:04d}", "row": n})
    for n, (change, reason) in enumerate(BAD_ORDERS, start=1000):
        rows.append({**VALID_ORDER, "oid": f"order-{n:04d}", "row": n, **change})
        reasons[n] = reason
    rows.sort(key=lambda r: hash(r["oid"]) % 97)  # the bad ones spread among the valid ones
    config = _config(emu, stream_mappings={"orders": ORDERS_MAPPING})
    run = run_target(
        tmp_path, config, [ORDERS_SCHEMA, *(record("orders", r) for r in rows), state({"s": 1})]
    )
    assert run.returncode == 0, run.stderr[-3000:]
    stored = _stored_rows(emu)
    assert sorted(stored) == list(range(VALID_ORDERS))  # nothing valid lost
    rejected = {r["record"]["row"]: r["reason"] for r in run.rejected}
    assert_each_exactly_once(
        [*map(str, stored), *map(str, rejected)], [str(r["row"]) for r in rows]
    )
    for row, reason in reasons.items():
        assert reason in rejected[row], (row, rejected[row])
    assert all(r["stream"] == "orders" and r["record"] for r in run.rejected)
    figures = summary(run.stderr, "orders")
    assert (figures.received, figures.accepted, figures.rejected) == (
        len(rows),
        VALID_ORDERS,
        len(BAD_ORDERS),
    )
    assert run.states == [{"s": 1}]


def test_records_not_matching_their_schema_are_rejected_naming_the_field(
    emu: Emulator, tmp_path: Path
) -> None:
    declared = {
        "type": "SCHEMA",
        "stream": "ticks",
        "schema": {
            "type": "object",
            "properties": {
                "event_type": {"type": "string"},
                "device_id": {"type": "string"},
                "row": {"type": "integer"},
                "amount": {"type": ["number", "null"]},
            },
            "required": ["row"],
        },
        "key_properties": ["row"],
    }
    bad: dict[int, tuple[dict[str, t.Any], str]] = {
        100: (
            {"event_type": "Tick", "device_id": "device-00001", "row": 100, "amount": "12€"},
            "amount",
        ),
        101: ({"event_type": None, "device_id": "device-00001", "row": 101}, "event_type"),
        102: ({"event_type": "Tick", "device_id": 7, "row": 102}, "device_id"),
    }
    lines = [json.dumps(declared), *(_tick(n) for n in range(20))]
    lines += [record("ticks", rec) for rec, _ in bad.values()]
    run = run_target(tmp_path, _config(emu), lines)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(_stored_rows(emu)) == list(range(20))
    assert len(run.rejected) == len(bad)
    by_row = {r["record"].get("row"): r["reason"] for r in run.rejected}
    for row, (_, field_name) in bad.items():
        assert "does not match the stream's SCHEMA" in by_row[row]
        assert field_name in by_row[row]


def test_a_record_missing_its_key_property_stops_the_run_after_delivering_what_came_before(
    emu: Emulator, tmp_path: Path
) -> None:
    """The Singer spec (and the SDK's standard target tests) make a record without its key
    properties an error: one message naming the line, everything before it delivered and
    checkpointed, nothing after it read, so a fixed re-run from that STATE loses nothing."""
    lines = [schema("ticks", TICK_PROPS, ["row"])]
    lines += [_tick(n) for n in range(10)]
    lines.append(state({"s": 1}))
    lines.append(record("ticks", {"event_type": "Tick", "device_id": "device-00001"}))  # no row
    lines += [_tick(n) for n in range(10, 20)]
    lines.append(state({"s": 2}))
    run = run_target(tmp_path, _config(emu), lines)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "input line 13 " in run.stderr
    assert "key_properties" in run.stderr
    assert "'row'" in run.stderr
    assert sorted(_stored_rows(emu)) == list(range(10))
    assert run.states == [{"s": 1}]


def test_unsendable_profiles_and_groups_are_rejected_and_the_valid_ones_applied(
    emu: Emulator, tmp_path: Path
) -> None:
    mappings = {
        "people": {"object": "user", "user_id_field": "id"},
        "accounts": {"object": "group", "group_type": "company", "group_value_field": "account"},
    }
    people_bad: list[dict[str, t.Any]] = [
        {"id": "null", "plan": "x"},
        {"id": {"a": 1}, "plan": "x"},
        {"id": None},
    ]
    accounts_bad: list[dict[str, t.Any]] = [
        {"account": None, "tier": "x"},
        {"account": ["a", {}], "tier": "x"},
    ]
    lines = [
        schema("people", {"id": {}, "plan": {}}, ["id"]),
        schema("accounts", {"account": {}, "tier": {}}, ["account"]),
    ]
    for n in range(10):
        lines.append(record("people", {"id": f"user-{n:05d}", "plan": f"p{n}"}))
        lines.append(record("accounts", {"account": f"acct-{n:03d}", "tier": f"t{n}"}))
    lines += [record("people", r) for r in people_bad]
    lines += [record("accounts", r) for r in accounts_bad]
    run = run_target(tmp_path, _config(emu, stream_mappings=mappings), lines)
    assert run.returncode == 0, run.stderr[-3000:]
    project = emu.project("key-std")
    assert project.users == {f"user-{n:05d}": {"plan": f"p{n}"} for n in range(10)}
    assert project.groups == {("company", f"acct-{n:03d}"): {"tier": f"t{n}"} for n in range(10)}
    rejected = {r["stream"]: 0 for r in run.rejected}
    for r in run.rejected:
        rejected[r["stream"]] += 1
    assert rejected == {"people": len(people_bad), "accounts": len(accounts_bad)}
    reasons = " | ".join(r["reason"] for r in run.rejected)
    for needle in ("placeholder", "must be a string or an integer", "missing user_id"):
        assert needle in reasons
    assert summary(run.stderr, "people").received == 10 + len(people_bad)
    assert summary(run.stderr, "accounts").accepted == 10


@pytest.mark.parametrize(
    ("endpoint_setting", "path", "limit_text"),
    [("httpapi", "/2/httpapi", "/2/httpapi"), ("batch", "/identify", "/identify")],
)
def test_an_oversize_record_is_rejected_before_sending_and_the_rest_delivered(
    emu: Emulator, tmp_path: Path, endpoint_setting: str, path: str, limit_text: str
) -> None:
    """One record over the endpoint's 1 MB request limit can never be sent: rejected, not
    split forever, not failing the run."""
    huge = "x" * 1_100_000
    if path == "/identify":
        mappings = {"people": {"object": "user", "user_id_field": "id"}}
        lines = [schema("people", props("id", "bio"), ["id"])]
        lines += [record("people", {"id": f"user-{n:05d}", "bio": "short"}) for n in range(15)]
        lines.insert(8, record("people", {"id": "user-huge1", "bio": huge}))
        config = _config(emu, stream_mappings=mappings)
    else:
        lines = [schema("ticks", {**TICK_PROPS, "bio": {"type": "string"}})]
        lines += [_tick(n) for n in range(15)]
        lines.insert(
            8,
            record(
                "ticks",
                {"event_type": "Tick", "device_id": "device-00001", "row": 99, "bio": huge},
            ),
        )
        config = _config(emu, events_endpoint=endpoint_setting)
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr[-3000:]
    [rejected] = run.rejected
    assert f"request limit of {limit_text}" in rejected["reason"]
    assert all(r.status != 413 for r in emu.requests_to(path))  # never sent
    project = emu.project("key-std")
    if path == "/identify":
        assert sorted(project.users) == [f"user-{n:05d}" for n in range(15)]
    else:
        assert sorted(_stored_rows(emu)) == list(range(15))


def test_an_unmapped_stream_fails_at_its_schema_with_the_mapping_to_add(
    emu: Emulator, tmp_path: Path
) -> None:
    lines = [
        TICK_SCHEMA,
        *(_tick(n) for n in range(5)),
        state({"upto": 5}),
        schema("invoices", props("invoice_id", "customer", "total"), ["invoice_id"]),
        record("invoices", {"invoice_id": "inv-1", "customer": "c-1", "total": "9"}),
        state({"upto": 6}),
    ]
    run = run_target(tmp_path, _config(emu), lines)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "'invoices'" in run.stderr
    assert "stream_mappings:" in run.stderr
    assert "invoices:" in run.stderr
    assert "invoice_id" in run.stderr  # the fields it could map
    assert {e.get("event_type") for e in emu.project("key-std").ingested} <= {"Tick"}
    assert all(s == {"upto": 5} for s in run.states)
