"""deletion_jobs (issue 25): a deletion the target submits shows up, and its status moves forward
(staging, submitted, done) as the emulator's clock passes its day."""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime
from pathlib import Path

from tap_amplitude.streams.deletion_jobs import deletion_job_rows

from tests.tap.helpers import FAST_RETRIES as TAP_RETRIES
from tests.tap.helpers import run_tap
from tests.target.helpers import FAST_RETRIES, props, record, run_target, schema

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

USERS = [f"gone-{i}" for i in range(3)]


def _tap_config(emulator: Emulator) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "secret_key": "secret-std",
        "api_url": emulator.base_url,
        "start_date": "2026-01-01T00:00:00Z",
        **TAP_RETRIES,
    }


def _statuses(run: t.Any) -> dict[str, str]:
    return {r["user_id"]: r["status"] for r in run.records("deletion_jobs")}


def test_a_deletion_submitted_by_the_target_reaches_done(
    emulator: Emulator, tmp_path: Path
) -> None:
    project = emulator.project("key-std")
    project.ingest(
        [{"event_type": "Signed Up", "user_id": u, "insert_id": f"i-{u}"} for u in USERS], "/batch"
    )
    target_config = {
        "api_key": "key-std",
        "secret_key": "secret-std",
        "api_url": emulator.base_url,
        "analytics_api_url": emulator.base_url,
        "project_id": 187520,
        "deletion_requester": "privacy@example.com",
        "allow_deletions": True,
        "stream_mappings": {"erasures": {"object": "deletion", "user_id_field": "user_id"}},
        **FAST_RETRIES,
    }
    lines = [
        schema("erasures", props("user_id"), ["user_id"]),
        *(record("erasures", {"user_id": u}) for u in USERS),
    ]
    (tmp_path / "target").mkdir()
    sent = run_target(tmp_path / "target", target_config, lines)
    assert sent.returncode == 0, sent.stderr

    # The emulator's clock says 2026-01-03: the job is scheduled for a later day, staging.
    first = run_tap(tmp_path, _tap_config(emulator), streams={"deletion_jobs"}, now="2026-01-03")
    assert first.returncode == 0, first.stderr
    rows = first.records("deletion_jobs")
    assert _statuses(first) == dict.fromkeys(USERS, "staging")
    day = rows[0]["day"]
    assert all(r["day"] == day and r["requester"] == "privacy@example.com" for r in rows)
    assert all(r["requested_on_day"] == "2026-01-03" for r in rows)
    assert len({r["amplitude_id"] for r in rows}) == len(USERS)
    job_day = datetime.fromisoformat(day).replace(tzinfo=UTC)

    # Within three days of its day the job is submitted; the next run re-reads it.
    emulator.clock = job_day.replace(day=job_day.day - 2)
    emulator.reset_requests()
    state = first.states[-1]
    now = emulator.clock.isoformat()
    second = run_tap(
        tmp_path, _tap_config(emulator), streams={"deletion_jobs"}, state=state, now=now
    )
    assert second.returncode == 0, second.stderr
    assert _statuses(second) == dict.fromkeys(USERS, "submitted")
    (request,) = emulator.requests_to("/api/2/deletions/users")
    assert request.query["start_day"] <= day <= request.query["end_day"]

    # Once the emulator's clock passes its day, the job is done.
    emulator.clock = job_day.replace(day=job_day.day + 1)
    third = run_tap(
        tmp_path,
        _tap_config(emulator),
        streams={"deletion_jobs"},
        state=second.states[-1],
        now=emulator.clock.isoformat(),
    )
    assert third.returncode == 0, third.stderr
    assert _statuses(third) == dict.fromkeys(USERS, "done")


def test_jobs_as_a_list_or_one_object_become_one_row_per_id() -> None:
    job = {
        "day": "2026-02-01",
        "status": "Done",
        "amplitude_ids": [
            {"amplitude_id": 1, "requester": "a@b.c", "requested_on_day": "2026-01-05"},
            {"amplitude_id": 2, "requester": "a@b.c", "requested_on_day": "2026-01-06"},
        ],
        "active_scrub_done_date": "2026-02-02",
    }
    rows = list(deletion_job_rows([job]))
    assert [(r["day"], r["amplitude_id"], r["status"]) for r in rows] == [
        ("2026-02-01", 1, "done"),
        ("2026-02-01", 2, "done"),
    ]
    assert rows[0]["active_scrub_done_date"] == "2026-02-02"
    assert list(deletion_job_rows(job)) == rows
    assert list(deletion_job_rows([])) == []
