"""The tap's fault matrix: every failure Amplitude throws at the Export and REST APIs.

For each case: the outcome the user sees (exit code, message) and the count proving nothing was
lost: every uuid the emulator holds for the range emitted exactly once, the bookmark at the end
of the range, and the fault seen to fire in the emulator's request log.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.emulator_log import wait_for_requests
from tests.reliability.ledger import assert_each_exactly_once
from tests.tap.helpers import KEY, Emulator, Run, base_config, make_emulator, run_tap

pytestmark = pytest.mark.reliability

EXPORT = "/api/2/export"
REST_PATHS = (
    "/api/2/users",
    "/api/2/sessions/average",
    "/api/2/events/list",
    "/api/3/annotations",
    "/api/3/cohorts",
)
REST_STREAMS = {"active_users", "average_session_length", "events_list", "annotations", "cohorts"}
WINDOW_HOURS = 6
WINDOWS = 24 // WINDOW_HOURS
END_BOOKMARK = "2026-01-02T00:00:00.000000Z"
DAY = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC))


@dataclass(frozen=True)
class Case:
    """One row of the matrix: how to break the API, and what the request log must then show."""

    inject: Callable[[Emulator], None]
    extra_requests: int  # export requests beyond one per window
    config: dict[str, t.Any] = field(default_factory=dict)
    statuses: tuple[int, ...] = ()  # fault statuses that must appear in the log


def _statuses(codes: list[int], retry_after: float | None = None) -> Callable[[Emulator], None]:
    return lambda emu: emu.faults.statuses(EXPORT, codes, retry_after=retry_after)


RECOVERED: dict[str, Case] = {
    "429-without-retry-after": Case(_statuses([429, 429, 429]), 3, statuses=(429,)),
    "429-with-retry-after": Case(_statuses([429, 429], retry_after=0.5), 2, statuses=(429,)),
    "500-burst": Case(_statuses([500] * 4), 4, statuses=(500,)),
    "502-burst": Case(_statuses([502] * 4), 4, statuses=(502,)),
    "503-burst": Case(_statuses([503] * 4), 4, statuses=(503,)),
    "504-burst-within-attempts": Case(_statuses([504, 504]), 2, statuses=(504,)),
    "mixed-5xx-and-429": Case(_statuses([504, 500, 502, 503, 429]), 5, statuses=(504, 429)),
    "dropped-connections": Case(lambda emu: emu.faults.drop(EXPORT, times=3), 3, statuses=(0,)),
    "slow-past-export-timeout": Case(
        lambda emu: emu.faults.slow(EXPORT, 1.6, times=2), 2, config={"export_timeout": 1}
    ),
    "truncated-body-early": Case(
        lambda emu: emu.faults.truncate(EXPORT, times=2, at_fraction=0.05), 2
    ),
    "truncated-body-late": Case(
        lambda emu: emu.faults.truncate(EXPORT, times=2, at_fraction=0.97), 2
    ),
    "corrupt-body": Case(lambda emu: emu.faults.corrupt(EXPORT, times=3), 3),
}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    emulator = make_emulator(events=800)
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.clear()
    emu.reset_requests()


def _held_uuids(emu: Emulator) -> set[str]:
    return {e["uuid"] for e in emu.project(KEY).export_events(*DAY)}


def _config(emu: Emulator, **overrides: t.Any) -> dict[str, t.Any]:
    # Counted faults hit the next requests in arrival order: one export request at a time keeps
    # them on the window under test (tests/tap/test_export_prefetch.py: prefetched windows).
    return base_config(
        emu,
        **{
            "request_time_range": WINDOW_HOURS,
            "max_attempts": 6,
            "export_prefetch_windows": 0,
            **overrides,
        },
    )


def _event_bookmarks(run: Run) -> list[str]:
    return [
        s["bookmarks"]["events"]["replication_key_value"]
        for s in run.states
        if s.get("bookmarks", {}).get("events", {}).get("replication_key_value")
    ]


def _assert_complete(emu: Emulator, run: Run) -> None:
    """Exit 0, every uuid of the day exactly once, bookmarks rising to the end of the day."""
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert_each_exactly_once((r["uuid"] for r in run.records("events")), _held_uuids(emu))
    bookmarks = _event_bookmarks(run)
    assert bookmarks == sorted(bookmarks)
    assert bookmarks[-1] == END_BOOKMARK


@pytest.mark.parametrize("name", list(RECOVERED))
def test_export_fault_is_retried_and_nothing_is_lost(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    case = RECOVERED[name]
    case.inject(emu)
    run = run_tap(tmp_path, _config(emu, **case.config), streams={"events"})
    _assert_complete(emu, run)
    log = wait_for_requests(emu, EXPORT, WINDOWS + case.extra_requests)
    assert len(log) == WINDOWS + case.extra_requests  # the fault fired, each one retried once
    seen = {r.status for r in log}
    assert set(case.statuses) <= seen
    assert "retrying" in run.stderr
    if name == "429-with-retry-after":  # Retry-After: 0.5 honoured over the 10-50 ms backoff
        assert log[1].started - log[0].finished >= 0.45


def test_a_window_too_large_is_halved_until_it_fits(emu: Emulator, tmp_path: Path) -> None:
    emu.faults.too_large(EXPORT, max_hours=2)
    run = run_tap(tmp_path, _config(emu), streams={"events"})
    _assert_complete(emu, run)
    log = emu.requests_to(EXPORT)
    assert 400 in {r.status for r in log}
    served = [r for r in log if r.status in (200, 404)]
    hours = [int(r.query["end"][-2:]) - int(r.query["start"][-2:]) + 1 for r in served]
    assert max(hours) <= 2
    assert sum(hours) == 24  # every hour served once: no gap, no overlap
    assert "Halving" in run.stderr


def test_persistent_504_halves_the_window_and_keeps_every_event(
    emu: Emulator, tmp_path: Path
) -> None:
    emu.faults.statuses(EXPORT, [504] * 3)
    run = run_tap(tmp_path, _config(emu), streams={"events"})
    _assert_complete(emu, run)
    log = emu.requests_to(EXPORT)
    assert [r.status for r in log[:3]] == [504, 504, 504]
    assert log[3].query == {"start": "20260101T00", "end": "20260101T02"}


EXHAUSTED: dict[str, tuple[Callable[[Emulator], None], dict[str, t.Any], str]] = {
    "503-forever": (lambda emu: emu.faults.statuses(EXPORT, [503] * 50), {}, "HTTP 503"),
    "429-forever": (lambda emu: emu.faults.statuses(EXPORT, [429] * 50), {}, "HTTP 429"),
    "connection-dropped-forever": (
        lambda emu: emu.faults.drop(EXPORT, times=50),
        {},
        "connection failed or dropped",
    ),
    "timeout-forever": (
        lambda emu: emu.faults.slow(EXPORT, 1.6, times=3),
        {"export_timeout": 1},
        "timed out",
    ),
    "truncated-forever": (
        lambda emu: emu.faults.truncate(EXPORT, times=50, at_fraction=0.5),
        {},
        "was cut off",
    ),
    "corrupt-forever": (
        lambda emu: emu.faults.corrupt(EXPORT, times=50),
        {},
        "corrupt or truncated on all 3 attempts",
    ),
    "too-large-even-one-hour": (
        lambda emu: emu.faults.too_large(EXPORT, max_hours=0),
        {},
        "S3 export",  # and it names the hour: "hour 2026-01-01T00:00Z"
    ),
}


@pytest.mark.parametrize("name", list(EXHAUSTED))
def test_a_fault_that_never_clears_fails_loudly_and_the_rerun_loses_nothing(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    """Exit 1 with one message naming the window; no window skipped; the rerun completes."""
    inject, config, needle = EXHAUSTED[name]
    inject(emu)
    failed = run_tap(tmp_path, _config(emu, max_attempts=3, **config), streams={"events"})
    assert failed.returncode == 1
    assert needle in failed.stderr
    assert "2026-01-01T00" in failed.stderr  # names the window it could not read
    if name == "too-large-even-one-hour":
        assert "hour 2026-01-01T00:00Z" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert failed.records("events") == []
    assert all(b <= "2026-01-01T00:00:00.000000Z" for b in _event_bookmarks(failed))

    emu.faults.clear()
    state = failed.states[-1] if failed.states else None
    rerun = run_tap(tmp_path, _config(emu), streams={"events"}, state=state)
    _assert_complete(emu, rerun)


REST_FAULTS: dict[str, tuple[Callable[[Emulator, str], None], dict[str, t.Any]]] = {
    "429-with-retry-after": (lambda e, p: e.faults.statuses(p, [429], retry_after=0.2), {}),
    "429-without-retry-after": (lambda e, p: e.faults.statuses(p, [429, 429]), {}),
    "5xx-burst": (lambda e, p: e.faults.statuses(p, [500, 502, 503, 504]), {}),
    "dropped-connections": (lambda e, p: e.faults.drop(p, times=2), {}),
    "slow-past-request-timeout": (lambda e, p: e.faults.slow(p, 1.6), {"request_timeout": 1}),
}


@pytest.fixture(scope="module")
def rest_baseline(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_tap(tmp_path_factory.mktemp("rest"), _config(emu), streams=REST_STREAMS)
    assert run.returncode == 0, run.stderr
    return run


@pytest.mark.parametrize("name", list(REST_FAULTS))
def test_rest_fault_on_every_dashboard_and_project_endpoint(
    emu: Emulator, tmp_path: Path, rest_baseline: Run, name: str
) -> None:
    """The same fault on all five REST endpoints at once: the same records as a clean run."""
    emu.faults.clear()
    emu.reset_requests()
    inject, config = REST_FAULTS[name]
    for path in REST_PATHS:
        inject(emu, path)
    run = run_tap(tmp_path, _config(emu, **config), streams=REST_STREAMS)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in sorted(REST_STREAMS):
        assert run.records(stream) == rest_baseline.records(stream), stream
        assert run.records(stream), stream
    for path in REST_PATHS:
        log = wait_for_requests(emu, path, 2)
        assert len(log) >= 2, path  # the fault fired, then a retry
        if name == "429-with-retry-after":  # Retry-After: 0.2 honoured over the 10-50 ms backoff
            assert log[1].started - log[0].finished >= 0.18, path
    # The tap makes one request at a time; a request it abandoned on its timeout may still be
    # served by the (slow) emulator when the retry arrives.
    assert emu.max_concurrency() <= (2 if name.startswith("slow") else 1)
