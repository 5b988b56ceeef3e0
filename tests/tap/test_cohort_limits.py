"""Amplitude's cohort download limits, kept by waiting or by leaving cohorts for the next run.

Behavioral Cohorts API docs (content/collections/api/en/behavioral-cohorts.md in
amplitude/amplitude-docs, "Considerations"): "60 requests per 10 minutes per app, and 4
parallel request per minute per app" to request a single cohort; "a maximum cohort size of 2
million users" (larger ones: cohort sync); "a limit of 500 requests per month ... Use the Get
usage endpoint to check your current usage" (amplitude.com/docs/apis/analytics/behavioral-cohorts).
Time is a fake clock shared by the tap's pacer and the emulator's limits: no real waits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from amplitude_emulator.cohort_limits import CohortLimits
from tap_amplitude.cohort_limits import CohortRequestPacer, CohortUsage, parse_usage
from tap_amplitude.cohort_plan import Cohort, plan_downloads
from tap_amplitude.tap import TapAmplitude

from tests.tap.helpers import KEY, base_config, make_emulator, run_tap, select_catalog, write_json

STREAM = {"cohort_members"}
COMPUTED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeClock:
    """Monotonic seconds that move only when someone sleeps (thread-safe)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_the_61st_request_waits_until_the_first_has_left_the_10_minutes() -> None:
    clock = FakeClock()
    pacer = CohortRequestPacer(clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(61):
        with pacer.request():
            starts.append(clock())
        clock.now += 1.0  # each download takes a second
    assert starts[59] - starts[0] < 600  # 60 within the first 10 minutes, no wait
    assert starts[60] - starts[0] >= 600  # the 61st: only once the first is 10 minutes old
    assert clock.slept == [pytest.approx(600 - 60)]
    assert pacer.requested == 61


def test_at_most_four_requests_are_in_flight_at_once() -> None:
    clock = FakeClock()
    pacer = CohortRequestPacer(clock=clock, sleep=clock.sleep)
    held = [pacer.request() for _ in range(4)]
    for slot in held:
        slot.__enter__()
    assert not pacer._parallel.acquire(blocking=False)  # a 5th would wait
    held[0].__exit__(None, None, None)
    assert pacer._parallel.acquire(blocking=False)  # one left: a place again


def _cohort(cohort_id: str, size: int | None) -> Cohort:
    return Cohort(cohort_id, cohort_id, COMPUTED, archived=False, size=size)


def test_a_cohort_over_two_million_members_is_planned_out() -> None:
    plan = plan_downloads(
        [_cohort("big", 2_000_001), _cohort("max", 2_000_000), _cohort("unknown", None)],
        wanted_ids=None,
        bookmarks={},
        incremental=True,
        limit=10,
    )
    assert [c.id for c in plan.too_large] == ["big"]
    assert {c.id for c in plan.download} == {"max", "unknown"}


@pytest.mark.parametrize(
    ("body", "usage"),
    [
        (
            {"rest_download": {"limit": 500, "usage": 12, "resets_at": "x"}},
            CohortUsage(12, 500, "x"),
        ),
        ({"limit": 500, "used": 499}, CohortUsage(499, 500)),
        ({"limit": "500", "remaining": "3"}, CohortUsage(497, 500)),
        ({"usage": 5}, None),
        ([], None),
        ({"rest_download": {"limit": True, "usage": 1}}, None),
    ],
)
def test_the_usage_answer_is_read_where_clients_find_it(body: Any, usage: Any) -> None:
    assert parse_usage(body) == usage


def test_65_cohorts_are_downloaded_at_amplitudes_pace_without_a_refusal(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tap runs in this process so that it and the emulator share one fake clock: the
    emulator refuses (429) a 61st request within 10 minutes; the tap must wait instead."""
    clock = FakeClock()
    emu = make_emulator(events=50)
    try:
        project = emu.project(KEY)
        ids = [f"pace{i:03d}" for i in range(65)]
        for cohort_id in ids:
            project.add_cohort(f"Paced {cohort_id}", 3, cohort_id=cohort_id)
        project.cohort_limits = CohortLimits(clock=clock)
        arrived: list[float] = []
        enter = CohortLimits.enter

        def recording_enter(limits: CohortLimits) -> str | None:
            arrived.append(limits.clock())
            return enter(limits)

        monkeypatch.setattr(CohortLimits, "enter", recording_enter)
        config = base_config(emu, cohort_ids=ids, max_cohort_downloads_per_run=100)
        catalog = select_catalog(tmp_path, write_json(tmp_path / "config.json", config), STREAM)
        tap = TapAmplitude(config=config, catalog=json.loads(catalog.read_text()), state=None)
        lines: list[str] = []
        handler = logging.Handler(logging.INFO)
        handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
        stream_logger = tap.streams["cohort_members"].logger
        stream_logger.addHandler(handler)
        stream_logger.setLevel(logging.INFO)
        tap.__dict__["cohort_pacer"] = CohortRequestPacer(clock=clock, sleep=clock.sleep)
        try:
            tap.sync_all()
        finally:
            stream_logger.removeHandler(handler)
            stream_logger.setLevel(logging.NOTSET)
        captured = capfd.readouterr()
        out = captured.out
        logged = "\n".join(lines)
        # The fake clock stands still while a download runs: the 61st waits the full window.
        assert "waited 600s before the next cohort download request" in logged
        assert "60 per 10 minutes" in logged
        records = [json.loads(line) for line in out.splitlines() if '"RECORD"' in line]
        assert {r["record"]["cohort_id"] for r in records} == set(ids)
        requests = [r for r in emu.requests if r.path.startswith("/api/5/cohorts/request/")]
        assert not [r for r in requests if r.status == 429]
        assert len(arrived) == 65
        assert arrived[60] - arrived[0] >= 600  # the 61st only once the first is 10 minutes old
        assert clock.slept
        assert sum(clock.slept) >= 600 - 1
    finally:
        emu.stop()


def test_a_cohort_over_two_million_members_is_never_requested(tmp_path: Path) -> None:
    emu = make_emulator(events=50)
    try:
        project = emu.project(KEY)
        project.add_cohort("Everyone ever", 2_000_001, cohort_id="huge001")
        project.add_cohort("Small", 5, cohort_id="small01")
        config = base_config(emu, cohort_ids=["huge001", "small01"])
        run = run_tap(tmp_path, config, streams=STREAM)
        assert run.returncode == 0, run.stderr[-2000:]
        assert not [r for r in emu.requests if r.path == "/api/5/cohorts/request/huge001"]
        assert {r["cohort_id"] for r in run.records("cohort_members")} == {"small01"}
        warning = next(line for line in run.stderr.splitlines() if "huge001" in line)
        assert "WARNING" in warning.upper()
        assert "'Everyone ever'" in warning
        assert "cohort sync" in warning
        assert "2,000,001" in warning
    finally:
        emu.stop()


def test_no_download_starts_once_the_months_requests_are_spent(tmp_path: Path) -> None:
    emu = make_emulator(events=50)
    try:
        project = emu.project(KEY)
        ids = [f"month{i}" for i in range(5)]
        for cohort_id in ids:
            project.add_cohort(f"Monthly {cohort_id}", 4, cohort_id=cohort_id)
        project.cohort_limits.used = 498  # 2 of the month's 500 left
        run = run_tap(tmp_path, base_config(emu, cohort_ids=ids), streams=STREAM)
        assert run.returncode == 0, run.stderr[-2000:]
        asked = [r for r in emu.requests if r.path.startswith("/api/5/cohorts/request/")]
        asked = [r for r in asked if not r.path.endswith("/file")]
        assert len(asked) == 2
        assert {r.status for r in asked} == {202}
        assert project.cohort_limits.used == 500
        delivered = {r["cohort_id"] for r in run.records("cohort_members")}
        assert len(delivered) == 2
        left = sorted(set(ids) - delivered)
        warning = next(line for line in run.stderr.splitlines() if "left for the next run" in line)
        assert all(cohort_id in warning for cohort_id in left)
        assert set(run.states[-1]["bookmarks"]["cohort_members"]["cohorts"]) == delivered
    finally:
        emu.stop()


def test_an_unreadable_usage_never_fails_the_run(tmp_path: Path) -> None:
    emu = make_emulator(events=50)
    try:
        emu.project(KEY).add_cohort("Small", 5, cohort_id="small01")
        emu.faults.statuses("/api/3/cohorts/usage", [404])
        run = run_tap(tmp_path, base_config(emu, cohort_ids=["small01"]), streams=STREAM)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "could not read this month's cohort download usage" in run.stderr
        assert {r["cohort_id"] for r in run.records("cohort_members")} == {"small01"}
    finally:
        emu.stop()
