"""Issue 11 as a user sees it: target-amplitude runs against the emulator (what it stored, the
rejected file, STATE, exit code), and the resend command for a rejected file."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path
from urllib.parse import parse_qs

from tests.target.helpers import (
    FAST_RETRIES,
    TARGET,
    props,
    read_rejected,
    record,
    run_target,
    schema,
    state,
    write_config,
)

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

RESEND = str(Path(sys.executable).with_name("target-amplitude-resend"))


def _config(emulator: Emulator, mappings: dict[str, t.Any], **extra: t.Any) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "stream_mappings": mappings,
        **FAST_RETRIES,
        **extra,
    }


def _ingested(emulator: Emulator) -> list[dict[str, t.Any]]:
    return emulator.project("key-std").ingested


def _identifications(emulator: Emulator, path: str = "/identify") -> list[list[dict]]:
    return [
        json.loads(parse_qs(r.body.decode())["identification"][0])
        for r in emulator.requests_to(path)
    ]


def test_two_streams_with_overlapping_ids_keep_all_their_events(
    emulator: Emulator, tmp_path: Path
) -> None:
    base = {"object": "event", "user_id_field": "uid", "insert_id_field": "id"}
    mappings = {
        "orders": {**base, "event_type": "Order Completed"},
        "refunds": {**base, "event_type": "Refund Issued"},
    }
    lines = [schema("orders", props("id", "uid"), ["id"]), schema("refunds", props("id", "uid"))]
    for i in range(1, 6):
        row = {"id": str(i), "uid": "user-00001"}
        lines += [record("orders", row), record("refunds", row)]
    run = run_target(tmp_path, _config(emulator, mappings), lines)
    assert run.returncode == 0, run.stderr
    stored = _ingested(emulator)
    assert len(stored) == 10
    assert {e["insert_id"] for e in stored} == {
        f"{stream}:{i}" for stream in ("orders", "refunds") for i in range(1, 6)
    }


def test_rows_sent_twice_with_record_metadata_and_no_keys_store_each_event_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    mapping = {
        "object": "event",
        "event_type": "Viewed",
        "user_id_field": "uid",
        "time_field": "at",
    }
    lines = [schema("views", props("uid", "at", "page"))]  # no key properties (a view)
    for i in range(20):
        row = {"uid": f"user-{i % 3:05d}", "at": f"2026-01-01T00:00:{i:02d}Z", "page": "/p"}
        lines.append(record("views", row))
    config = _config(emulator, {"views": mapping}, add_record_metadata=True)
    for attempt in ("first", "again"):
        (tmp_path / attempt).mkdir()
        run = run_target(tmp_path / attempt, config, lines)
        assert run.returncode == 0, run.stderr
    stored = _ingested(emulator)
    assert len(stored) == 20
    assert all(not k.startswith("_sdc_") for e in stored for k in e["event_properties"])


def test_epoch_seconds_never_become_1970_events(emulator: Emulator, tmp_path: Path) -> None:
    mapping = {"object": "event", "event_type": "Paid", "user_id_field": "uid", "time_field": "ts"}
    lines = [
        schema("pay", {**props("uid"), "ts": {"type": ["integer", "string", "null"]}}),
        record("pay", {"uid": "user-00001", "ts": 1_767_225_600}),
        record("pay", {"uid": "user-00002", "ts": "20240131"}),
        record("pay", {"uid": "user-00003", "ts": None}),
        record("pay", {"uid": "user-00004", "ts": 1_767_225_600_000}),
    ]
    run = run_target(tmp_path, _config(emulator, {"pay": mapping}), lines)
    assert run.returncode == 0, run.stderr
    assert [e["time"] for e in _ingested(emulator)] == [1_767_225_600_000]
    reasons = [r["reason"] for r in run.rejected]
    assert "stream_mappings.pay.time_unit: s" in reasons[0]
    assert "'20240131'" in reasons[1]
    assert "null_time: upload_time" in reasons[2]

    (tmp_path / "seconds").mkdir()
    seconds = {**mapping, "time_unit": "s"}
    again = run_target(tmp_path / "seconds", _config(emulator, {"pay": seconds}), lines[:2])
    assert again.returncode == 0, again.stderr
    assert _ingested(emulator)[-1]["time"] == 1_767_225_600_000
    assert all(e["time"] > 978_307_200_000 for e in _ingested(emulator))


def test_wrong_api_key_on_identify_fails_in_a_few_requests_without_state(
    emulator: Emulator, tmp_path: Path
) -> None:
    lines = [schema("u", props("id", "plan"))]
    lines += [record("u", {"id": f"user-{i:05d}", "plan": "pro"}) for i in range(50)]
    lines.append(state({"bookmarks": {"u": "50"}}))
    mappings = {"u": {"object": "user", "user_id_field": "id"}}
    run = run_target(tmp_path, _config(emulator, mappings, api_key="not-a-key"), lines)
    assert run.returncode == 1
    assert run.states == []
    assert len(emulator.requests_to("/identify")) <= 4  # one per lane at most
    assert "api_key" in run.stderr
    assert "data_region" in run.stderr
    assert run.rejected == []
    assert "not-a-key" not in run.stderr
    assert "Traceback" not in run.stderr


def test_clear_all_goes_alone_before_the_values(emulator: Emulator, tmp_path: Path) -> None:
    emulator.project("key-std").users["user-00001"] = {"old": 1, "plan": "free"}
    mapping = {"object": "user", "user_id_field": "id", "operations": {"clear_all": True}}
    lines = [schema("u", props("id", "plan")), record("u", {"id": "user-00001", "plan": "pro"})]
    run = run_target(tmp_path, _config(emulator, {"u": mapping}), lines)
    assert run.returncode == 0, run.stderr
    sent = [ident for request in _identifications(emulator) for ident in request]
    assert sent == [
        {"user_id": "user-00001", "user_properties": {"$clearAll": "-"}},
        {"user_id": "user-00001", "user_properties": {"plan": "pro"}},
    ]
    assert emulator.project("key-std").users["user-00001"] == {"plan": "pro"}
    assert "Summary stream=u in=1 accepted=1 rejected=0" in run.stderr


def test_group_identify_requests_stay_within_1024_group_properties(
    emulator: Emulator, tmp_path: Path
) -> None:
    names = [f"p{k:03d}" for k in range(400)]
    mapping = {"object": "group", "group_type": "company", "group_value_field": "id"}
    lines = [schema("g", props("id", *names))]
    lines += [record("g", {"id": f"acme-{i}", **dict.fromkeys(names, "v")}) for i in range(5)]
    config = _config(emulator, {"g": mapping}, max_concurrent_requests=1)
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    requests = _identifications(emulator, "/groupidentify")
    assert [len(r) for r in requests] == [2, 2, 1]
    assert len(emulator.project("key-std").groups) == 5


def test_deletes_and_nulls_are_mirrored(emulator: Emulator, tmp_path: Path) -> None:
    users = {"object": "user", "user_id_field": "id", "null_behavior": "unset"}
    events = {
        "object": "event",
        "event_type": "Order",
        "user_id_field": "id",
        "insert_id_field": "n",
    }
    lines = [
        schema("u", props("id", "plan", "tier", "_sdc_deleted_at")),
        record("u", {"id": "user-00001", "plan": "pro", "tier": "gold", "_sdc_deleted_at": None}),
        record("u", {"id": "user-00002", "plan": "pro", "tier": "gold", "_sdc_deleted_at": None}),
        record("u", {"id": "user-00001", "plan": "pro", "tier": None, "_sdc_deleted_at": None}),
        record("u", {"id": "user-00002", "plan": "pro", "tier": "x", "_sdc_deleted_at": "2026"}),
        schema("o", props("id", "n", "_sdc_deleted_at")),
        record("o", {"id": "user-00001", "n": "1", "_sdc_deleted_at": None}),
        record("o", {"id": "user-00001", "n": "1", "_sdc_deleted_at": "2026-01-01T00:00:00Z"}),
    ]
    config = _config(emulator, {"u": users, "o": events}, hard_delete=True)
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    profiles = emulator.project("key-std").users
    assert profiles["user-00001"] == {"plan": "pro"}  # tier turned NULL: unset
    assert profiles["user-00002"] == {}  # deleted at the source: its properties unset
    assert [e["insert_id"] for e in _ingested(emulator)] == ["o:1"]  # the delete is no event
    assert "Summary stream=o in=2 accepted=1 rejected=0 requests=1 retried=0 skipped=1" in (
        run.stderr
    )


def test_short_user_id_with_a_valid_device_id_is_rejected_naming_min_id_length(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Point 10, decided: not sent without its user; the reason names the setting."""
    mapping = {"object": "event", "event_type": "E", "user_id_field": "u", "device_id_field": "d"}
    lines = [schema("e", props("u", "d")), record("e", {"u": "42", "d": "device-00001"})]
    run = run_target(tmp_path, _config(emulator, {"e": mapping}), lines)
    assert run.returncode == 0, run.stderr
    assert _ingested(emulator) == []
    assert emulator.requests_to("/batch") == []  # decided here, not by the server
    (rejected,) = run.rejected
    assert "min_id_length" in rejected["reason"]
    assert rejected["retryable"] is False
    (tmp_path / "lower").mkdir()
    lower = run_target(
        tmp_path / "lower", _config(emulator, {"e": mapping}, min_id_length=2), lines
    )
    assert lower.returncode == 0, lower.stderr
    assert [(e["user_id"], e["device_id"]) for e in _ingested(emulator)] == [("42", "device-00001")]


def test_quota_rejections_are_retryable_and_one_line_resends_them(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.faults.throttle("/batch", daily_quota_devices={"device-hot01"}, times=5)
    mapping = {"object": "event", "event_type": "Tick", "device_id_field": "d"}
    lines = [schema("t", props("d", "n"), ["n"])]
    lines += [
        record("t", {"d": ("device-hot01", "device-cold1")[i % 2], "n": str(i)}) for i in range(6)
    ]
    lines.append(record("t", {"d": "n/a", "n": "bad"}))  # not retryable: stays out of the resend
    config = _config(emulator, {"t": mapping})
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert [r["retryable"] for r in run.rejected] == [False, True, True, True]
    first = {e["insert_id"] for e in _ingested(emulator)}
    assert len(first) == 3

    # A day later (the quota's rolling 24 h): the resend recipe of docs/troubleshooting.md, into a
    # fresh rejected file.
    emulator.faults.clear()
    resend_file = tmp_path / "resend.jsonl"
    (tmp_path / "rejected.jsonl").rename(resend_file)
    cfg = write_config(tmp_path, config)
    resend = subprocess.run(
        f"{RESEND} {resend_file} | {TARGET} --config {cfg}",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resend.returncode == 0, resend.stderr
    assert "3 retryable of 4 rejected record(s)" in resend.stderr
    stored = _ingested(emulator)
    assert len(stored) == 6
    assert sorted(e["event_properties"]["n"] for e in stored) == [str(i) for i in range(6)]
    assert read_rejected(tmp_path / "rejected.jsonl") == []


def test_identify_events_mapped_from_a_stream_update_the_profile(
    emulator: Emulator, tmp_path: Path
) -> None:
    mapping = {
        "object": "event",
        "event_type": "$identify",
        "user_id_field": "id",
        "user_properties": ["plan"],
    }
    lines = [schema("u", props("id", "plan")), record("u", {"id": "user-00001", "plan": "pro"})]
    run = run_target(tmp_path, _config(emulator, {"u": mapping}), lines)
    assert run.returncode == 0, run.stderr
    assert run.rejected == []
    assert emulator.project("key-std").users["user-00001"]["plan"] == "pro"
