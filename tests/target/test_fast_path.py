"""The target's per-record fast path (TargetAmplitude._process_record_message) and the SDK's own
path give the same run: the same events stored, the same rejected lines (early and after
delivery), the same last STATE and METRIC counts. Each input runs twice in-process, once with the
fast path turned off."""

from __future__ import annotations

import io
import json
import logging
import typing as t

import pytest
from target_amplitude import sinks
from target_amplitude.target import TargetAmplitude

from tests.target.helpers import FAST_RETRIES, props, read_rejected, record, schema, state

if t.TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator

EXPORT_PROPS = {
    **props(
        "uuid", "$insert_id", "event_type", "user_id", "device_id", "event_time",
        "server_upload_time", "ip_address", "version_name", "platform", "_sdc_extracted_at",
        "_sdc_deleted_at",
    ),
    "event_properties": {"type": ["object", "null"], "additionalProperties": True},
    "plan": {"type": ["object", "string", "null"], "additionalProperties": True},
    "session_id": {"type": ["integer", "null"]},
    "amount": {"type": ["number", "null"]},
}  # fmt: skip


def _export_event(i: int, **overrides: t.Any) -> dict[str, t.Any]:
    event = {
        "uuid": f"uuid-{i}",
        "$insert_id": f"ins-{i:05d}",
        "event_type": "Viewed",
        "user_id": f"user-{i % 7:03d}",
        "device_id": f"device-{i % 5:03d}",
        "event_time": f"2026-01-01 00:00:{i % 60:02d}.{i:06d}",
        "server_upload_time": "2026-01-01 00:01:00.000000",
        "ip_address": "10.0.0.1",
        "version_name": "1.0",
        "platform": "iOS",
        "event_properties": {"n": i, "price": 1.25, "tags": ["a", "b"], "big": 1e20},
        "plan": {"branch": "main"} if i % 3 else "pro",
        "session_id": 1767225600000 + i,
        "amount": i / 4,
        "_sdc_extracted_at": "2026-01-02T00:00:00Z",
    }
    event.update(overrides)
    return event


def _lines() -> list[str]:
    lines = [schema("events", EXPORT_PROPS, ["uuid"])]
    for i in range(60):
        overrides: dict[str, t.Any] = {}
        if i % 11 == 3:
            overrides["session_id"] = "not an integer"  # SCHEMA mismatch: rejected early
        elif i % 13 == 5:
            overrides.update(user_id="null", device_id=None)  # refused id: rejected early
        elif i % 17 == 7:
            overrides["_sdc_deleted_at"] = "2026-01-02T00:00:00Z"  # a delete: skipped
        elif i % 9 == 2:
            overrides["user_id"] = "user-over-quota"  # refused after delivery (429 quota)
        lines.append(record("events", _export_event(i, **overrides)))
        if i % 20 == 19:
            lines.append(state({"bookmarks": {"events": i}}))
    # A second stream mapped explicitly, with an ingest-shaped passthrough in between.
    lines.append(schema("orders", props("order_id", "customer_id", "created_at"), ["order_id"]))
    for i in range(5):
        order = {"order_id": f"o-{i}", "customer_id": f"customer-{i}", "created_at": None}
        order["created_at"] = "2026-01-03T10:00:00Z" if i != 2 else "yesterday"
        lines.append(record("orders", order))
    lines.append(state({"bookmarks": {"events": 59, "orders": "o-4"}}))
    return lines


def _run(
    emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    *,
    fast: bool,
) -> tuple[list[t.Any], list[dict[str, t.Any]], list[t.Any], list[str]]:
    emulator.reset(data=True)
    emulator.faults.throttle("/batch", daily_quota_users=["user-over-quota"], times=1000)
    taken: list[bool] = []
    take = sinks.AmplitudeSink.take

    def spy(self: sinks.AmplitudeSink, rec: dict[str, t.Any], line: bytes | None) -> None:
        taken.append(line is not None)
        take(self, rec, line)

    monkeypatch.setattr(sinks.AmplitudeSink, "take", spy)
    if not fast:
        monkeypatch.setattr(TargetAmplitude, "_fast_path_sink", lambda _self, _message: None)
    rejected_path = tmp_path / f"rejected-{fast}.jsonl"
    config = {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "rejected_records_path": str(rejected_path),
        "ledger_path": str(tmp_path / f"ledger-{fast}.sqlite"),  # each path sends everything
        "batch_size_rows": 16,
        "stream_mappings": {
            "orders": {
                "object": "event",
                "event_type": "Order Completed",
                "user_id_field": "customer_id",
                "time_field": "created_at",
            }
        },
        **FAST_RETRIES,
    }
    capfd.readouterr()
    caplog.clear()
    target = TargetAmplitude(config=config, validate_config=True)
    data = ("\n".join(_lines()) + "\n").encode()
    target.listen(file_input=io.BytesIO(data))  # type: ignore[arg-type]
    out, _ = capfd.readouterr()
    monkeypatch.undo()
    assert all(taken) if fast else not any(taken)
    stored = sorted(emulator.project("key-std").ingested, key=lambda e: e["insert_id"])
    # In file order each path writes a record rejected before sending (checked by the sink) when
    # it is read and one Amplitude refused when its batch is answered: how the two interleave
    # follows the emulator's answer times, not the path. Compared as a set of lines.
    rejected = sorted(
        ({k: v for k, v in line.items() if k != "at"} for line in read_rejected(rejected_path)),
        key=lambda line: json.dumps(line, sort_keys=True),
    )
    states = [json.loads(line) for line in out.splitlines() if line.strip()]
    counts = sorted(m for m in caplog.messages if '"record_count"' in m)
    return stored, rejected, states, counts


def test_the_fast_path_and_the_sdk_path_give_the_same_run(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    fast = _run(empty_emulator, tmp_path, capfd, caplog, monkeypatch, fast=True)
    sdk = _run(empty_emulator, tmp_path, capfd, caplog, monkeypatch, fast=False)
    stored, rejected, states, counts = fast
    assert len(stored) > 30
    reasons = {line["reason"].split(" ")[0] for line in rejected}
    assert len(rejected) >= 10, reasons  # early rejects and quota rejects after delivery
    assert any(line["retryable"] for line in rejected)  # rejected after delivery
    assert all("_sdc_extracted_at" not in line["record"] for line in rejected)
    assert states[-1] == {"bookmarks": {"events": 59, "orders": "o-4"}}
    assert len(counts) >= 4  # received, accepted and rejected per stream
    # A STATE superseded before its records are answered is not written (timing decides which):
    # each run writes, in order, some of the input's STATEs, ending with the last.
    sent = [json.loads(line)["value"] for line in _lines() if '"STATE"' in line]
    for run in (fast, sdk):
        written = iter(sent)
        assert all(state in written for state in run[2]), run[2]
    assert (fast[0], fast[1], fast[2][-1], fast[3]) == (sdk[0], sdk[1], sdk[2][-1], sdk[3])


def test_a_stream_map_takes_the_sdk_path(
    empty_emulator: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty_emulator.reset(data=True)
    taken: list[bytes | None] = []
    take = sinks.AmplitudeSink.take

    def spy(self: sinks.AmplitudeSink, rec: dict[str, t.Any], line: bytes | None) -> None:
        taken.append(line)
        take(self, rec, line)

    monkeypatch.setattr(sinks.AmplitudeSink, "take", spy)
    config = {
        "api_key": "key-std",
        "api_url": empty_emulator.base_url,
        "rejected_records_path": str(tmp_path / "rejected.jsonl"),
        "stream_maps": {"events": {"platform": "'Android'"}},
        **FAST_RETRIES,
    }
    target = TargetAmplitude(config=config, validate_config=True)
    data = "\n".join([schema("events", EXPORT_PROPS), record("events", _export_event(1))]) + "\n"
    target.listen(file_input=io.BytesIO(data.encode()))  # type: ignore[arg-type]
    capfd.readouterr()
    assert taken == [None]
    [event] = empty_emulator.project("key-std").ingested
    assert event["platform"] == "Android"
