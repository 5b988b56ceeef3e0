"""The taxonomy streams against the emulator, and plan-gated streams: skipped with a warning
naming the stream and the add-on, the rest of the run delivered; real failures still fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from tap_amplitude.pacing import CostBudget

from tests.tap.helpers import KEY, base_config, make_emulator, run_tap

TAXONOMY = {
    "taxonomy_categories",
    "taxonomy_event_types",
    "taxonomy_event_properties",
    "taxonomy_user_properties",
    "taxonomy_group_properties",
}
GATED = {"cohorts", "cohort_members", *TAXONOMY}
CLASSIC = {"events", "active_users", "average_session_length", "annotations", "events_list"}


def test_taxonomy_streams_equal_the_plan_within_the_cost_budget(tmp_path: Path) -> None:
    emu = make_emulator(events=100)
    try:
        run = run_tap(tmp_path, base_config(emu), streams=TAXONOMY)
        assert run.returncode == 0, run.stderr[-2000:]
        plan = emu.project(KEY).taxonomy()
        assert run.records("taxonomy_categories") == plan.categories
        events = {r["event_type"]: r for r in run.records("taxonomy_event_types")}
        visible = [e for e in plan.event_types if not e["_hidden"]]
        assert set(events) == {e["event_type"] for e in visible}  # hidden ones: never returned
        assert {name for name, r in events.items() if r["deleted"]} == {
            e["event_type"] for e in visible if e["_deleted"]
        }
        current = [e["event_type"] for e in visible if not e["_deleted"]]
        properties = {
            (r["event_type"], r["event_property"]) for r in run.records("taxonomy_event_properties")
        }
        assert properties == {("", "source")} | {
            (name, prop) for name in current for prop in ("item_id", "price")
        }
        users = {r["user_property"]: r["deleted"] for r in run.records("taxonomy_user_properties")}
        assert users == {"gp:plan": False, "gp:company": False, "gp:old_flag": True}
        groups = {
            (r["group_type"], r["group_property"]) for r in run.records("taxonomy_group_properties")
        }
        assert groups == {("company", "grp:industry"), ("company", "grp:seats")}
        taxonomy = [r for r in emu.requests if r.path.startswith("/api/2/taxonomy/")]
        # categories 1, event types 2, event properties E + 2, user and group properties 1 each
        assert len(taxonomy) == len(current) + 7
        assert {r.status for r in taxonomy} == {200}  # never a 429
        assert emu.max_concurrency("/api/2/taxonomy/") == 1  # within 4 at the same time
    finally:
        emu.stop()


def test_the_cost_budget_waits_instead_of_passing_the_hourly_limit() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = CostBudget(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        assert budget.spend() == 0.0
        now[0] += 10
    assert budget.spend() == pytest.approx(3600 - 30)
    assert slept == [pytest.approx(3570)]
    assert budget.spent_total == 4


def test_without_the_add_ons_every_stream_runs_the_gated_are_skipped_by_name(
    tmp_path: Path,
) -> None:
    emu = make_emulator(events=300, cohorts_enabled=False, taxonomy_enabled=False)
    try:
        run = run_tap(tmp_path, base_config(emu))  # every stream
        assert run.returncode == 0, run.stderr[-2000:]
        for stream in GATED:
            assert run.records(stream) == [], stream
            assert f"Skipping the {stream} stream" in run.stderr, stream
        warnings = run.stderr.splitlines()
        assert any("cohort_members" in w and "Cohorts add-on" in w for w in warnings)
        assert any("taxonomy_categories" in w and "Enterprise plan" in w for w in warnings)
        project = emu.project(KEY)
        assert len(run.records("events")) == project.export_count()
        assert {r["uuid"] for r in run.records("events")} == {
            e["uuid"] for e in project.export_events("20260101T00", "20260101T23")
        }
        for stream in CLASSIC - {"events"}:
            assert run.records(stream), stream
        assert not [r for r in emu.requests if r.path.startswith("/api/5/")]  # no download asked
    finally:
        emu.stop()


@pytest.mark.parametrize("streams", [{"cohort_members"}, {"taxonomy_categories"}])
def test_bad_credentials_on_a_gated_stream_still_fail_the_run(
    streams: set[str], tmp_path: Path
) -> None:
    emu = make_emulator(events=50)
    try:
        run = run_tap(tmp_path, base_config(emu, secret_key="wrong-secret"), streams=streams)
        assert run.returncode == 1
        assert "secret_key" in run.stderr
        assert "Skipping the" not in run.stderr
    finally:
        emu.stop()


def test_a_5xx_that_never_clears_fails_the_run(tmp_path: Path) -> None:
    emu = make_emulator(events=50)
    try:
        emu.faults.statuses("/api/2/taxonomy/category", [503] * 10)
        run = run_tap(tmp_path, base_config(emu), streams={"taxonomy_categories"})
        assert run.returncode == 1
        assert "Gave up" in run.stderr
        emu.faults.clear()
        emu.faults.statuses("/api/5/cohorts/request-status/:request_id", [500] * 10)
        run = run_tap(tmp_path, base_config(emu), streams={"cohort_members"})
        assert run.returncode == 1
        assert "Gave up" in run.stderr
    finally:
        emu.stop()
