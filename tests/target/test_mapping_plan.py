"""The per-key-sequence plan of map_amplitude_shaped (issue 15) equals its per-value loop."""

from __future__ import annotations

import datetime as dt
import json
import random
import typing as t

import pytest
from amplitude_emulator import Emulator, GeneratorSpec
from target_amplitude import mapping
from target_amplitude.mapping import RecordRejectedError, map_amplitude_shaped


def _export_events() -> list[dict[str, t.Any]]:
    emu = Emulator()
    project = emu.add_project(api_key="k", secret_key="s", region="standard", project_id=1)
    project.generate(GeneratorSpec(seed=15, events=600, start="2026-01-01T00", hours=6, users=40))
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [dict(e) for e in project.export_events(start, start + dt.timedelta(hours=5))]


def _ingest_records() -> list[dict[str, t.Any]]:
    rng = random.Random(15)
    records = []
    for index in range(300):
        record: dict[str, t.Any] = {"event_type": rng.choice(["Click", "View", "$identify"])}
        for key, value in (
            ("user_id", rng.choice(["user-1", None, 12345])),
            ("device_id", rng.choice(["device-1", None])),
            ("time", rng.choice([1767225600000, None, "2026-01-01T00:00:00Z"])),
            ("insert_id", rng.choice([None, "ins-" + str(index), 77])),
            ("event_properties", rng.choice([None, {"a": 1}, {"button": "x"}])),
            ("button", rng.choice(["buy", None])),
            ("plan", rng.choice([None, "pro", {"branch": "main"}])),
            ("group_properties", rng.choice([None, {}, {"g": 1}])),
            ("_sdc_extracted_at", "2026-01-01T00:00:00Z"),
            ("amount", rng.choice([3, 4.5, None])),
        ):
            if rng.random() < 0.7:
                record[key] = value
        records.append(record)
    return records


def _both_ways(record: dict[str, t.Any], skip: bool) -> tuple[t.Any, t.Any]:
    def run() -> t.Any:
        try:
            return map_amplitude_shaped(
                "s", dict(record), ("uuid",), skip_user_properties_sync=skip
            )
        except RecordRejectedError as exc:
            return ("rejected", str(exc))

    planned = run()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mapping, "_key_plan", lambda *_a, **_k: None)  # the per-value loop
        looped = run()
    return planned, looped


@pytest.mark.parametrize("source", ["export", "ingest"])
def test_the_plan_maps_every_record_as_the_loop_does(source: str) -> None:
    records = _export_events() if source == "export" else _ingest_records()
    assert len(records) > 200
    planned_any = 0
    for record in records:
        for skip in (False, True):
            planned, looped = _both_ways(record, skip)
            # equal, keys in the same order (the payload's bytes)
            assert json.dumps(planned, default=str) == json.dumps(looped, default=str), record
        plan = mapping._key_plan(record, export="$insert_id" in record)
        planned_any += record.get("event_type") != "$identify" and (
            mapping._apply_plan(plan, record) is not None
        )
    assert planned_any  # the plan did run
