"""Every delivery rule against the emulator: what it stored, the rejected file, STATE, exit."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from tests.target.helpers import FAST_RETRIES, props, record, run_target, schema, state

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

EVENT_PROPS = {
    **props("event_type", "user_id", "device_id", "n"),
    "user_properties": {"type": ["object", "null"]},
}


def _config(emulator: Emulator, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "max_concurrent_requests": 1,
        **FAST_RETRIES,
        **extra,
    }


def _events(n: int, devices: t.Sequence[str] = ("device-00001",), pad: int = 0) -> list[str]:
    lines = [schema("events_in", EVENT_PROPS, ["n"])]
    for i in range(n):
        rec = {"event_type": "Tick", "device_id": devices[i % len(devices)], "n": f"{i:06d}"}
        if pad:
            rec["user_id"] = "u" * pad
        lines.append(record("events_in", rec))
    return lines


def _stored_ns(emulator: Emulator) -> list[str]:
    return [e["event_properties"]["n"] for e in emulator.project("key-std").ingested]


def _statuses(emulator: Emulator, path: str = "/batch") -> list[int]:
    return [r.status for r in emulator.requests_to(path)]


def test_413_splits_the_request_and_rejects_a_single_oversize_event(
    emulator: Emulator, tmp_path: Path
) -> None:
    lines = _events(3000)
    giant = {
        "event_type": "Tick",
        "device_id": "device-00002",
        "n": "giant",
        "user_id": "g" * 300_000,
    }
    lines.insert(1500, record("events_in", giant))
    emulator.faults.payload_limit("/batch", 250_000)
    run = run_target(tmp_path, _config(emulator), [*lines, state({"s": 1})])
    assert run.returncode == 0, run.stderr
    assert sorted(_stored_ns(emulator)) == [f"{i:06d}" for i in range(3000)]
    [rejected] = run.rejected
    assert rejected["record"]["n"] == "giant"
    assert "413" in rejected["reason"]
    statuses = _statuses(emulator)
    assert statuses.count(413) >= 2  # the giant alone, and full-size requests after a split
    first_bodies = [len(json.loads(r.body)["events"]) for r in emulator.requests_to("/batch")]
    assert first_bodies[0] == 2000
    assert run.states == [{"s": 1}]


def test_partial_400_rejects_listed_events_and_resends_the_rest(
    emulator: Emulator, tmp_path: Path
) -> None:
    lines = _events(6, devices=["device-00001", "device-00002"])
    bad = {
        "event_type": "Tick",
        "device_id": "device-00003",
        "n": "bad",
        "user_properties": {"$set": {"a": 1}, "plain": 2},
    }
    lines.insert(3, record("events_in", bad))
    run = run_target(tmp_path, _config(emulator), lines)
    assert run.returncode == 0, run.stderr
    assert sorted(_stored_ns(emulator)) == [f"{i:06d}" for i in range(6)]
    [rejected] = run.rejected
    assert rejected["record"]["n"] == "bad"
    assert "user_properties" in rejected["reason"]
    assert rejected["payload"]["device_id"] == "device-00003"
    assert _statuses(emulator) == [400, 200]


def test_429_holds_back_only_the_throttled_device(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.throttle("/batch", devices={"device-hot01"}, times=1)
    run = run_target(tmp_path, _config(emulator), _events(10, ["device-hot01", "device-cold1"]))
    assert run.returncode == 0, run.stderr
    assert _statuses(emulator) == [429, 200, 200]
    reqs = [json.loads(r.body)["events"] for r in emulator.requests_to("/batch")]
    assert {e["device_id"] for e in reqs[1]} == {"device-cold1"}
    assert {e["device_id"] for e in reqs[2]} == {"device-hot01"}
    hot = [
        e["event_properties"]["n"]
        for e in emulator.project("key-std").ingested
        if e["device_id"] == "device-hot01"
    ]
    assert hot == sorted(hot)  # per-device order preserved
    assert len(_stored_ns(emulator)) == 10


def test_daily_quota_rejects_instead_of_retrying(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.throttle("/batch", daily_quota_devices={"device-hot01"}, times=5)
    run = run_target(tmp_path, _config(emulator), _events(6, ["device-hot01", "device-cold1"]))
    assert run.returncode == 0, run.stderr
    assert sorted(_stored_ns(emulator)) == ["000001", "000003", "000005"]
    assert len(run.rejected) == 3
    assert all("daily" in r["reason"] for r in run.rejected)
    assert "rejected=3" in run.stderr


def test_5xx_bursts_and_dropped_connections_are_retried_once_stored(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.faults.statuses("/batch", [500, 502, 503, 504])
    emulator.faults.drop("/batch", times=2)
    run = run_target(tmp_path, _config(emulator), [*_events(50), state({"s": 2})])
    assert run.returncode == 0, run.stderr
    assert sorted(_stored_ns(emulator)) == [f"{i:06d}" for i in range(50)]
    assert run.states == [{"s": 2}]
    assert "retried=" in run.stderr
    assert "retried=0" not in run.stderr.split("Summary endpoint=batch")[1]


def test_retry_deadline_exhausted_fails_without_state(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.statuses("/batch", [503] * 500)
    config = _config(emulator, retry_deadline_seconds=0.3)
    run = run_target(tmp_path, config, [*_events(3), state({"s": 3})])
    assert run.returncode == 1
    assert "retry_deadline_seconds" in run.stderr
    assert run.states == []


def test_wrong_region_key_fails_fast_naming_data_region(emulator: Emulator, tmp_path: Path) -> None:
    config = _config(emulator, api_url=emulator.url("eu"))
    run = run_target(tmp_path, config, _events(3))
    assert run.returncode == 1
    assert "data_region" in run.stderr
    assert "Traceback" not in run.stderr
    assert "key-std" not in run.stderr + run.stdout
    assert len(emulator.requests_to("/batch")) == 1


def test_403_fails_without_loop(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.statuses("/batch", [403])
    run = run_target(tmp_path, _config(emulator), _events(3))
    assert run.returncode == 1
    assert "403" in run.stderr
    assert len(emulator.requests_to("/batch")) == 1


def test_identify_429_and_httpapi_endpoint(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.statuses("/identify", [429])
    mappings = {"u": {"object": "user", "user_id_field": "id"}}
    lines = [
        schema("u", props("id", "plan")),
        record("u", {"id": "user-00001", "plan": "a"}),
        *_events(5),
    ]
    config = _config(emulator, events_endpoint="httpapi", stream_mappings=mappings)
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert _statuses(emulator, "/identify") == [429, 200]
    assert emulator.project("key-std").users["user-00001"]["plan"] == "a"
    assert _statuses(emulator, "/2/httpapi") == [200]
    assert emulator.requests_to("/batch") == []
