"""user_mapping, deletion and cohort objects end to end into the emulator (issue 14)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from tests.tap.helpers import run_tap
from tests.target.helpers import FAST_RETRIES, props, record, run_target, schema, state
from tests.target.metrics import assert_metrics_agree_with_summary, points, total

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

N = 250
ALIASES = {**props("user_id", "global_id"), "unmap": {"type": ["boolean", "null"]}}


def _config(emulator: Emulator, mappings: dict[str, t.Any], **extra: t.Any) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "secret_key": "secret-std",
        "api_url": emulator.base_url,
        "analytics_api_url": emulator.base_url,
        "project_id": 187520,
        "deletion_requester": "privacy@example.com",
        "allow_deletions": True,
        "stream_mappings": mappings,
        **FAST_RETRIES,
        **extra,
    }


MAPPINGS: dict[str, t.Any] = {
    "aliases": {
        "object": "user_mapping",
        "user_id_field": "user_id",
        "global_user_id_field": "global_id",
        "unmap_field": "unmap",
    },
    "erasures": {"object": "deletion", "user_id_field": "user_id"},
    "vip_customers": {
        "object": "cohort",
        "cohort_name": "VIP customers",
        "cohort_owner": "owner@example.com",
        "user_id_field": "customer_id",
    },
}


def _seed_users(emulator: Emulator, *prefixes: str, count: int = N) -> None:
    """One event per user, so Amplitude knows them (deletions and cohorts need known users)."""
    project = emulator.project("key-std")
    project.ingest(
        [
            {"event_type": "Signed Up", "user_id": f"{p}-{i:04d}", "insert_id": f"{p}{i}"}
            for p in prefixes
            for i in range(count)
        ],
        "/batch",
    )


def _lines(count: int = N) -> list[str]:
    return [
        schema("aliases", ALIASES),
        *(
            record("aliases", {"user_id": f"alias-{i:04d}", "global_id": f"person-{i:04d}"})
            for i in range(count)
        ),
        schema("erasures", props("user_id", "requested_at"), ["user_id"]),
        *(
            record("erasures", {"user_id": f"gone-{i:04d}", "requested_at": "2026-01-02"})
            for i in range(count)
        ),
        schema("vip_customers", props("customer_id", "tier"), ["customer_id"]),
        *(
            record("vip_customers", {"customer_id": f"vip-{i:04d}", "tier": "gold"})
            for i in range(count)
        ),
        state({"bookmarks": {"vip_customers": {"done": True}}}),
    ]


def test_aliases_erasures_and_cohort_members(emulator: Emulator, tmp_path: Path) -> None:
    _seed_users(emulator, "gone", "vip")
    emulator.reset_requests()
    run = run_target(tmp_path, _config(emulator, MAPPINGS), _lines())
    assert run.returncode == 0, run.stderr
    project = emulator.project("key-std")

    # 250 mappings, in one request (<= 1500 per 30 s).
    assert len(project.admin.usermap) == N
    assert project.admin.usermap["alias-0007"] == "person-0007"
    assert len(emulator.requests_to("/usermap")) == 1

    # 250 deletions, in requests of at most 100 ids, at least a second apart (emulator clock).
    posts = [r for r in emulator.requests_to("/api/2/deletions/users") if r.method == "POST"]
    sizes = [len(json.loads(r.body)["user_ids"]) for r in posts]
    assert sizes == [100, 100, 50]
    assert all(r.status == 200 for r in posts)
    gaps = [b.started - a.started for a, b in itertools.pairwise(posts)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert {json.loads(r.body)["requester"] for r in posts} == {"privacy@example.com"}
    scheduled = [e for job in project.admin.jobs.values() for e in job.requests]
    assert len({e["user_id"] for e in scheduled}) == N
    assert "Summary deletion_job day=2026-01-13 status=staging ids=250" in run.stderr

    # A cohort of 250, visible in the cohort list.
    cohorts = [c for c in project.cohorts() if c["name"] == "VIP customers"]
    assert len(cohorts) == 1
    assert cohorts[0]["size"] == N
    assert cohorts[0]["owners"] == ["owner@example.com"]
    assert set(project.admin.members[cohorts[0]["id"]]) == {f"vip-{i:04d}" for i in range(N)}

    # STATE only after the cohort's upload was acknowledged: the last line of the run.
    assert run.states == [{"bookmarks": {"vip_customers": {"done": True}}}]
    assert run.rejected == []


def test_a_dry_run_of_the_same_input_sends_nothing(emulator: Emulator, tmp_path: Path) -> None:
    _seed_users(emulator, "gone", "vip")
    emulator.reset_requests()
    run = run_target(tmp_path, _config(emulator, MAPPINGS, dry_run=True), _lines())
    assert run.returncode == 0, run.stderr
    project = emulator.project("key-std")
    assert emulator.requests_to("/usermap") == []
    assert emulator.requests_to("/api/2/deletions/users") == []
    assert emulator.requests_to("/api/3/cohorts/membership") == []
    uploads = emulator.requests_to("/api/3/cohorts/upload")
    # The cohort is only validated, with Amplitude's own skip_save: nothing saved.
    assert [json.loads(r.body)["skip_save"] for r in uploads] == [True]
    assert project.admin.usermap == {}
    assert project.admin.jobs == {}
    assert [c for c in project.cohorts() if c["name"] == "VIP customers"] == []
    for stream in ("aliases", "erasures", "vip_customers"):
        assert f"Summary stream={stream} in={N} would_send={N} rejected=0" in run.stderr
    assert run.states == []


def test_a_cohort_mirrors_the_stream_in_place_and_round_trips_to_the_tap(
    emulator: Emulator, tmp_path: Path
) -> None:
    _seed_users(emulator, "vip", count=300)
    mappings = {"vip_customers": MAPPINGS["vip_customers"]}
    lines = [schema("vip_customers", props("customer_id"))]
    first = run_target(
        tmp_path,
        _config(emulator, mappings),
        lines + [record("vip_customers", {"customer_id": f"vip-{i:04d}"}) for i in range(300)],
    )
    assert first.returncode == 0, first.stderr
    second = run_target(
        tmp_path,
        _config(emulator, mappings),
        lines
        + [record("vip_customers", {"customer_id": f"vip-{i:04d}"}) for i in range(100, 200)]
        + [record("vip_customers", {"customer_id": "nobody-known"})],
    )
    assert second.returncode == 0, second.stderr
    project = emulator.project("key-std")
    cohorts = [c for c in project.cohorts() if c["name"] == "VIP customers"]
    assert len(cohorts) == 1  # replaced in place, never a second cohort of that name
    assert set(project.admin.members[cohorts[0]["id"]]) == {f"vip-{i:04d}" for i in range(100, 200)}
    # The unknown id Amplitude skipped is in the rejected file with the reason.
    assert [r["record"] for r in second.rejected] == [{"customer_id": "nobody-known"}]
    assert "skipped this id" in second.rejected[0]["reason"]

    (tmp_path / "tap").mkdir()
    tap = run_tap(
        tmp_path / "tap",
        {
            "api_key": "key-std",
            "secret_key": "secret-std",
            "api_url": emulator.base_url,
            "start_date": "2026-01-01T00:00:00Z",
        },
        streams={"cohorts"},
    )
    assert tap.returncode == 0, tap.stderr
    read = [m["record"] for m in tap.messages if m["type"] == "RECORD" and m["stream"] == "cohorts"]
    vip = [c for c in read if c["name"] == "VIP customers"]
    assert len(vip) == 1
    assert vip[0]["size"] == 100


def test_more_than_100000_members_use_the_membership_api(
    emulator: Emulator, tmp_path: Path
) -> None:
    count = 100_050
    _seed_users(emulator, "big", count=count)
    emulator.reset_requests()
    mappings = {
        "big": {
            "object": "cohort",
            "cohort_name": "Big",
            "cohort_owner": "owner@example.com",
            "user_id_field": "id",
        }
    }
    lines = [schema("big", props("id"))] + [
        record("big", {"id": f"big-{i:04d}"}) for i in range(count)
    ]
    run = run_target(tmp_path, _config(emulator, mappings), lines)
    assert run.returncode == 0, run.stderr
    upload = emulator.requests_to("/api/3/cohorts/upload")
    membership = emulator.requests_to("/api/3/cohorts/membership")
    assert [len(json.loads(r.body)["ids"]) for r in upload] == [100_000]
    body = json.loads(membership[0].body)
    assert len(membership) == 1
    assert body["memberships"][0]["id_type"] == "BY_NAME"
    assert len(body["memberships"][0]["ids"]) == 50
    cohort = next(c for c in emulator.project("key-std").cohorts() if c["name"] == "Big")
    assert cohort["size"] == count


def test_invalid_deletion_ids_go_to_the_rejected_file(emulator: Emulator, tmp_path: Path) -> None:
    _seed_users(emulator, "gone", count=3)
    lines = [schema("erasures", props("user_id"))] + [
        record("erasures", {"user_id": uid}) for uid in ("gone-0000", "never-seen", "gone-0002")
    ]
    run = run_target(tmp_path, _config(emulator, {"erasures": MAPPINGS["erasures"]}), lines)
    assert run.returncode == 0, run.stderr
    assert [r["record"] for r in run.rejected] == [{"user_id": "never-seen"}]
    assert "invalid_ids" in run.rejected[0]["reason"]
    assert "Summary stream=erasures in=3 accepted=2 rejected=1" in run.stderr


def test_deletions_need_allow_deletions_and_fail_at_the_schema(
    emulator: Emulator, tmp_path: Path
) -> None:
    _seed_users(emulator, "gone", count=3)
    emulator.reset_requests()
    lines = [
        schema("erasures", props("user_id")),
        record("erasures", {"user_id": "gone-0000"}),
    ]
    run = run_target(
        tmp_path,
        _config(emulator, {"erasures": MAPPINGS["erasures"]}, allow_deletions=False),
        lines,
    )
    assert run.returncode == 1
    assert "allow_deletions" in run.stderr
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("mapping", "missing", "setting"),
    [
        ("erasures", "deletion_requester", "deletion_requester"),
        ("erasures", "secret_key", "secret_key"),
        ("vip_customers", "project_id", "project_id"),
    ],
)
def test_settings_an_object_needs_fail_fast(
    emulator: Emulator, tmp_path: Path, mapping: str, missing: str, setting: str
) -> None:
    config = _config(emulator, {mapping: MAPPINGS[mapping]})
    del config[missing]
    run = run_target(tmp_path, config, [schema(mapping, props("user_id", "customer_id"))])
    assert run.returncode == 1
    assert f"Setting '{setting}' is required because stream_mappings.{mapping}" in run.stderr


def test_a_user_mapping_changes_the_users_later_events(emulator: Emulator, tmp_path: Path) -> None:
    lines = [
        schema("aliases", ALIASES),
        record("aliases", {"user_id": "phone-user", "global_id": "global-1"}),
        record("aliases", {"user_id": "web-user", "global_id": "global-1"}),
        record("aliases", {"user_id": "old-user", "global_id": None, "unmap": True}),
    ]
    run = run_target(tmp_path, _config(emulator, {"aliases": MAPPINGS["aliases"]}), lines)
    assert run.returncode == 0, run.stderr
    body = emulator.requests_to("/usermap")[0]
    sent = json.loads(dict(parse_qsl(body.body.decode()))["mapping"])
    assert sent[2] == {"user_id": "old-user", "unmap": True}
    project = emulator.project("key-std")
    project.ingest(
        [
            {"event_type": "Open", "user_id": "phone-user", "insert_id": "a"},
            {"event_type": "Open", "user_id": "web-user", "insert_id": "b"},
        ],
        "/batch",
    )
    exported = [e for e in project.export_events(0, 1 << 40) if e["event_type"] == "Open"]
    assert len({e["amplitude_id"] for e in exported}) == 1  # one person: the global user
    assert {e["user_id"] for e in exported} == {"phone-user", "web-user"}


def test_deleted_users_events_are_gone_from_later_exports(
    emulator: Emulator, tmp_path: Path
) -> None:
    _seed_users(emulator, "gone", count=2)
    lines = [schema("erasures", props("user_id")), record("erasures", {"user_id": "gone-0001"})]
    run = run_target(tmp_path, _config(emulator, {"erasures": MAPPINGS["erasures"]}), lines)
    assert run.returncode == 0, run.stderr
    project = emulator.project("key-std")

    def users() -> set[str]:
        project.apply_due_deletions()
        return {e["user_id"] for e in project.export_events(0, 1 << 40) if e["user_id"]}

    assert {"gone-0000", "gone-0001"} <= users()  # scheduled, not run yet
    emulator.advance(dt.timedelta(days=10))
    assert "gone-0001" not in users()
    assert "gone-0000" in users()


def test_429_and_5xx_are_retried_and_metrics_match_the_summary(
    emulator: Emulator, tmp_path: Path
) -> None:
    _seed_users(emulator, "gone", "vip", count=150)
    emulator.reset_requests()
    emulator.faults.statuses("/usermap", [500, 429], retry_after=0.05)
    emulator.faults.statuses("/api/2/deletions/users", [429, 503], retry_after=0.05)
    emulator.faults.statuses("/api/3/cohorts/upload", [502])
    run = run_target(tmp_path, _config(emulator, MAPPINGS), _lines(150))
    assert run.returncode == 0, run.stderr
    project = emulator.project("key-std")
    assert len(project.admin.usermap) == 150
    scheduled = [e for job in project.admin.jobs.values() for e in job.requests]
    assert len(scheduled) == 150  # nothing scheduled twice by a retry
    (vip,) = [c for c in project.cohorts() if c["name"] == "VIP customers"]
    assert vip["size"] == 150
    posts = [r for r in emulator.requests_to("/api/2/deletions/users") if r.method == "POST"]
    assert [r.status for r in posts] == [429, 503, 200, 200]
    gaps = [b.started - a.started for a, b in itertools.pairwise(posts)]
    assert all(gap >= 1.0 for gap in gaps), gaps  # retries keep the pace too
    assert "Summary stream=aliases in=150 accepted=150 rejected=0 requests=1 retried=2" in (
        run.stderr
    )
    assert "Summary stream=erasures in=150 accepted=150 rejected=0 requests=2 retried=2" in (
        run.stderr
    )
    assert_metrics_agree_with_summary(run.stderr, "aliases", "/usermap", posts=3)
    assert_metrics_agree_with_summary(run.stderr, "erasures", "/api/2/deletions/users", posts=4)
    found = points(run.stderr)
    assert total(found, "http_request_count", stream="vip_customers", outcome="retried") == 1
    assert (
        total(
            found,
            "record_count",
            stream="vip_customers",
            endpoint="/api/3/cohorts/upload",
            outcome="accepted",
        )
        == 150
    )


def test_eu_projects_use_the_eu_hosts_and_a_us_key_is_refused_there(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = _config(
        emulator,
        {"aliases": MAPPINGS["aliases"]},
        api_key="key-eu",
        secret_key="secret-eu",
        data_region="EU Residency Server",
        api_url=emulator.url("eu"),
        analytics_api_url=emulator.url("eu"),
    )
    lines = [schema("aliases", ALIASES), record("aliases", {"user_id": "u-1", "global_id": "g"})]
    run = run_target(tmp_path, config, lines)
    assert run.returncode == 0, run.stderr
    assert emulator.project("key-eu").admin.usermap == {"u-1": "g"}
    assert [r.region for r in emulator.requests_to("/usermap")] == ["eu"]
    wrong = run_target(tmp_path, {**config, "api_key": "key-std"}, lines)
    assert wrong.returncode == 1
    assert "/usermap: Amplitude refused the request (HTTP 400 invalid_api_key)" in wrong.stderr


def test_a_deletion_is_sent_after_the_events_read_before_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Events go out in the background; a privacy deletion that follows them in the input waits
    until Amplitude has answered every one of them (Amplitude deletes what it holds then)."""
    _seed_users(emulator, "gone", count=1)
    lines = [
        schema("clicks", props("event_type", "user_id", "n")),
        *(
            record("clicks", {"event_type": "Click", "user_id": "gone-0000", "n": str(n)})
            for n in range(9000)
        ),
        schema("erasures", props("user_id", "requested_at"), ["user_id"]),
        record("erasures", {"user_id": "gone-0000", "requested_at": "2026-01-02"}),
    ]
    emulator.faults.slow("/batch", 0.3, times=100)
    run = run_target(tmp_path, _config(emulator, {"erasures": MAPPINGS["erasures"]}), lines)
    assert run.returncode == 0, run.stderr
    batches = emulator.requests_to("/batch")
    deletion = emulator.requests_to("/api/2/deletions/users")[0]
    assert sum(len(json.loads(r.body)["events"]) for r in batches) == 9000
    assert deletion.started >= max(r.finished for r in batches)


@pytest.mark.parametrize("state_between", [False, True])
def test_a_cohort_whose_schema_changes_mid_stream_keeps_every_member(
    emulator: Emulator, tmp_path: Path, state_between: bool
) -> None:
    """A tap may send a stream's SCHEMA again, changed (a column added) between its records:
    the SDK then starts a new sink for the stream. The cohort is still the whole stream, every
    member before the change and after it, uploaded once; with or without a STATE between; and
    so is the next run's, sent as the changes the sync ledger knows of."""
    _seed_users(emulator, "vip", count=300)
    mappings = {"vip_customers": MAPPINGS["vip_customers"]}
    config = _config(emulator, mappings, batch_size_rows=100)
    project = emulator.project("key-std")

    def run(members: range) -> set[str]:
        lines = [schema("vip_customers", props("customer_id"))]
        lines += [record("vip_customers", {"customer_id": f"vip-{i:04d}"}) for i in members[:75]]
        if state_between:
            lines.append(state({"bookmarks": {"vip_customers": {"upto": 75}}}))
        lines.append(schema("vip_customers", props("customer_id", "tier")))
        lines += [
            record("vip_customers", {"customer_id": f"vip-{i:04d}", "tier": "gold"})
            for i in members[75:]
        ]
        lines.append(state({"bookmarks": {"vip_customers": {"upto": len(members)}}}))
        done = run_target(tmp_path, config, lines)
        assert done.returncode == 0, done.stderr
        assert done.states[-1] == {"bookmarks": {"vip_customers": {"upto": len(members)}}}
        assert "the 75 member(s) read so far stay in the cohort" in done.stderr
        cohorts = [c for c in project.cohorts() if c["name"] == "VIP customers"]
        assert len(cohorts) == 1, cohorts
        return set(project.admin.members[cohorts[0]["id"]])

    assert run(range(300)) == {f"vip-{i:04d}" for i in range(300)}
    assert run(range(100, 250)) == {f"vip-{i:04d}" for i in range(100, 250)}
