"""A cohort with the sync ledger: uploaded whole the first time, then ADD/REMOVE deltas."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from tests.ledger.test_runs import _ok, _run
from tests.target.helpers import FAST_RETRIES, props, record, schema, state

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

VIP = {
    "vip": {
        "object": "cohort",
        "cohort_name": "VIP customers",
        "cohort_owner": "owner@example.com",
        "user_id_field": "customer_id",
    }
}


def _config(emulator: Emulator, tmp_path: Path, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "secret_key": "secret-std",
        "api_url": emulator.base_url,
        "analytics_api_url": emulator.base_url,
        "project_id": 187520,
        "stream_mappings": VIP,
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        **FAST_RETRIES,
        **extra,
    }


def _lines(members: t.Iterable[int]) -> list[str]:
    return [
        schema("vip", props("customer_id")),
        *(record("vip", {"customer_id": f"vip-{i:04d}"}) for i in members),
        state({"vip": "done"}),
    ]


def _members(emulator: Emulator) -> set[str]:
    project = emulator.project("key-std")
    (cohort,) = [c for c in project.cohorts() if c["name"] == "VIP customers"]
    return set(project.admin.members[cohort["id"]])


def test_the_first_run_uploads_later_runs_send_deltas(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    project = clean_emulator.project("key-std")
    project.ingest(
        [
            {"event_type": "Signed Up", "user_id": f"vip-{i:04d}", "insert_id": f"v{i}"}
            for i in range(300)
        ],
        "/batch",
    )
    config = _config(clean_emulator, tmp_path)
    _ok(_run(tmp_path, config, _lines(range(200)), clean_emulator))
    assert len(clean_emulator.requests_to("/api/3/cohorts/upload")) == 1
    assert _members(clean_emulator) == {f"vip-{i:04d}" for i in range(200)}

    second = _ok(_run(tmp_path, config, _lines(range(100, 250)), clean_emulator))
    assert clean_emulator.requests_to("/api/3/cohorts/upload") == []
    bodies = [json.loads(r.body) for r in clean_emulator.requests_to("/api/3/cohorts/membership")]
    operations = {m["operation"]: sorted(m["ids"]) for body in bodies for m in body["memberships"]}
    assert operations == {
        "ADD": [f"vip-{i:04d}" for i in range(200, 250)],
        "REMOVE": [f"vip-{i:04d}" for i in range(100)],
    }
    assert _members(clean_emulator) == {f"vip-{i:04d}" for i in range(100, 250)}
    assert "added=50 removed=100 (deltas from the sync ledger)" in second.stderr
    assert "unchanged=100" in second.stderr

    third = _ok(_run(tmp_path, config, _lines(range(100, 250)), clean_emulator))
    assert clean_emulator.requests_to("/api/3/cohorts/membership") == []
    assert clean_emulator.requests_to("/api/3/cohorts/upload") == []
    assert "unchanged=150" in third.stderr
    assert third.states == [{"vip": "done"}]

    # full_resync: uploaded whole again (and the ledger refreshed).
    _ok(_run(tmp_path, {**config, "full_resync": True}, _lines(range(100, 250)), clean_emulator))
    assert len(clean_emulator.requests_to("/api/3/cohorts/upload")) == 1
    assert _members(clean_emulator) == {f"vip-{i:04d}" for i in range(100, 250)}
