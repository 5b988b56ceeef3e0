"""kill -9 at random points (fixed seed) of a tap run and of a target run, then resume.

Each kill point is an independent case: the run is killed, restarted from the last STATE it
emitted before the kill, and the counts must equal an uninterrupted run's.
- tap: every uuid exactly once after dedup, no gap; only the window in progress is repeated.
- target: every record stored exactly once (insert_id) or in the rejected file, never both.
"""

from __future__ import annotations

import random
import time
import typing as t
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from amplitude_emulator import Emulator

from tests.reliability.ledger import assert_each_exactly_once, read_rejected_lines
from tests.reliability.processes import LiveTarget, kill_tap_after_lines
from tests.tap.helpers import (
    KEY,
    START,
    Run,
    base_config,
    make_emulator,
    run_tap,
    select_catalog,
    write_json,
)
from tests.target.helpers import (
    FAST_RETRIES,
    props,
    record,
    run_target,
    schema,
    state,
    write_config,
)

pytestmark = pytest.mark.reliability

SEED = 20260101
KILLS = 5
_rng = random.Random(SEED)
TAP_KILL_FRACTIONS = [round(_rng.uniform(0.02, 0.98), 3) for _ in range(KILLS)]
TARGET_KILLS = [
    (round(_rng.uniform(0.05, 0.75), 3), round(_rng.uniform(0.0, 0.05), 3)) for _ in range(KILLS)
]

# -- tap --------------------------------------------------------------------------------------

WINDOW_HOURS = 3
END_BOOKMARK = "2026-01-02T00:00:00.000000Z"


def _bookmark(states: t.Sequence[dict[str, t.Any]]) -> str | None:
    for value in reversed(states):
        mark = value.get("bookmarks", {}).get("events", {}).get("replication_key_value")
        if mark:
            return str(mark)
    return None


@pytest.fixture(scope="module")
def tap_emu() -> Iterator[Emulator]:
    emulator = make_emulator(events=1200)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def tap_files(tap_emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tap-crash")
    config = write_json(
        folder / "config.json", base_config(tap_emu, request_time_range=WINDOW_HOURS)
    )
    return config, select_catalog(folder, config, {"events"})


@pytest.fixture(scope="module")
def tap_baseline(tap_emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_tap(
        tmp_path_factory.mktemp("tap-baseline"),
        base_config(tap_emu, request_time_range=WINDOW_HOURS),
        streams={"events"},
    )
    assert run.returncode == 0, run.stderr
    return run


@pytest.mark.parametrize("fraction", TAP_KILL_FRACTIONS)
def test_tap_killed_then_resumed_emits_every_uuid_once_after_dedup(
    tap_emu: Emulator,
    tap_files: tuple[Path, Path],
    tap_baseline: Run,
    tmp_path: Path,
    fraction: float,
) -> None:
    config, catalog = tap_files
    baseline_uuids = [r["uuid"] for r in tap_baseline.records("events")]
    held = {e["uuid"] for e in tap_emu.project(KEY).export_events("20260101T00", "20260101T23")}
    assert_each_exactly_once(baseline_uuids, held)

    killed = kill_tap_after_lines(config, catalog, int(fraction * len(tap_baseline.messages)))
    states = [m["value"] for m in killed if m["type"] == "STATE"]
    first = [m["record"] for m in killed if m["type"] == "RECORD"]
    resume_from = _bookmark(states)

    resumed = run_tap(
        tmp_path,
        base_config(tap_emu, request_time_range=WINDOW_HOURS),
        streams={"events"},
        state=states[-1] if states else None,
    )
    assert resumed.returncode == 0, resumed.stderr
    second = resumed.records("events")
    assert resumed.bookmark() == END_BOOKMARK

    combined = [r["uuid"] for r in first + second]
    assert set(combined) == held  # no gap
    assert len(set(combined)) == len(baseline_uuids)  # the uninterrupted run's count
    floor = resume_from or START.replace("Z", ".000000Z")
    assert min(r["server_upload_time"] for r in second) >= floor  # finished windows not re-read
    by_uuid = {r["uuid"]: r for r in first + second}
    repeated = [u for u, n in Counter(combined).items() if n > 1]
    window_end = _window_end(floor)
    assert all(floor <= by_uuid[u]["server_upload_time"] < window_end for u in repeated)


def _window_end(bookmark: str) -> str:
    """The end of the export window starting at ``bookmark`` (RFC 3339 strings compare)."""
    hour = int(bookmark[11:13]) + WINDOW_HOURS
    if hour >= 24:
        return END_BOOKMARK
    return f"{bookmark[:11]}{hour:02d}{bookmark[13:]}"


# -- target -----------------------------------------------------------------------------------

TOTAL = 1500
STATE_EVERY = 50
EVENT_PROPS = {
    **props("event_type", "device_id", "insert_id"),
    "event_properties": {"type": ["object", "null"]},
    "user_properties": {"type": ["object", "null"]},
}


def _is_refused_here(n: int) -> bool:
    return n % 101 == 7  # device_id "null": our validation rejects it before sending


def _is_refused_by_amplitude(n: int) -> bool:
    return n % 151 == 11  # mixed user_properties: Amplitude's 400 lists it


def _target_lines(start: int) -> list[str]:
    lines = [
        schema("clicks", EVENT_PROPS, ["insert_id"]),
        schema("people", props("id", "tier"), ["id"]),
    ]
    for n in range(start, TOTAL):
        event: dict[str, t.Any] = {
            "event_type": "Click",
            "device_id": "null" if _is_refused_here(n) else f"device-{n % 30:05d}",
            "insert_id": f"click-{n:05d}",
            "event_properties": {"n": n},
        }
        if _is_refused_by_amplitude(n):
            event["user_properties"] = {"$set": {"a": 1}, "plain": 2}
        lines.append(record("clicks", event))
        if n % 10 == 0:
            lines.append(record("people", {"id": f"user-{n:05d}", "tier": f"t{n}"}))
        if n % STATE_EVERY == STATE_EVERY - 1:
            lines.append(state({"next": n + 1}))
    return lines


def _expected() -> tuple[set[str], set[str]]:
    clicks = {f"click-{n:05d}" for n in range(TOTAL)}
    refused = {
        f"click-{n:05d}" for n in range(TOTAL) if _is_refused_here(n) or _is_refused_by_amplitude(n)
    }
    return clicks, refused


@pytest.fixture(scope="module")
def target_emu() -> Iterator[Emulator]:
    emulator = Emulator()
    emulator.add_project("key-std", "secret-std", region="standard", project_id=187520)
    emulator.start()
    yield emulator
    emulator.stop()


def _target_config(emu: Emulator) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emu.base_url,
        "batch_size_rows": 100,
        "max_concurrent_requests": 2,
        "stream_mappings": {"people": {"object": "user", "user_id_field": "id"}},
        **FAST_RETRIES,
    }


def _slow_down(emu: Emulator) -> None:
    """Every request a little slow, so a kill lands mid-request as often as between."""
    emu.faults.slow("/batch", 0.03, times=100_000)
    emu.faults.slow("/identify", 0.03, times=100_000)


@pytest.fixture(scope="module")
def target_baseline(
    target_emu: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, int, int]:
    """An uninterrupted run: (STATE lines emitted, events stored, records rejected)."""
    target_emu.reset(data=True)
    _slow_down(target_emu)
    run = run_target(
        tmp_path_factory.mktemp("target-baseline"),
        _target_config(target_emu),
        _target_lines(0),
    )
    assert run.returncode == 0, run.stderr
    clicks, refused = _expected()
    stored = [e["insert_id"] for e in target_emu.project("key-std").ingested]
    rejected = [r["record"]["insert_id"] for r in run.rejected]
    assert_each_exactly_once([*stored, *rejected], clicks)
    assert set(rejected) == refused
    assert run.states[-1] == {"next": TOTAL}
    return len(run.states), len(stored), len(rejected)


@pytest.mark.parametrize(("fraction", "delay"), TARGET_KILLS)
def test_target_killed_then_resumed_stores_every_record_once_or_rejects_it(
    target_emu: Emulator,
    target_baseline: tuple[int, int, int],
    tmp_path: Path,
    fraction: float,
    delay: float,
) -> None:
    states_total, stored_total, rejected_total = target_baseline
    target_emu.reset(data=True)
    _slow_down(target_emu)
    config = _target_config(target_emu)
    live = LiveTarget(write_config(tmp_path, config), tmp_path / "stderr.log")
    live.send(_target_lines(0))
    seen = [live.read_state() for _ in range(max(1, int(fraction * states_total)))]
    time.sleep(delay)
    code, unread = live.kill()
    assert code == -9, "the target finished before it could be killed"
    seen += unread  # emitted before the kill: an orchestrator would have read them
    last = next((s for s in reversed(seen) if s), None)
    start = last["next"] if last else 0
    assert 0 < start < TOTAL

    target_emu.faults.clear()
    resumed = run_target(tmp_path, config, _target_lines(start))
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.states[-1] == {"next": TOTAL}

    clicks, refused = _expected()
    project = target_emu.project("key-std")
    stored = [e["insert_id"] for e in project.ingested]
    assert len(stored) == len(set(stored)) == stored_total  # dedup held: nothing twice
    rejected_lines, cut_lines = read_rejected_lines(tmp_path / "rejected.jsonl")
    assert cut_lines <= 1  # at most the line being written at the kill
    rejected = {r["record"]["insert_id"] for r in rejected_lines if r["stream"] == "clicks"}
    assert rejected == refused
    assert len(rejected) == rejected_total
    assert not set(stored) & rejected  # never both stored and rejected
    assert set(stored) | rejected == clicks  # in = stored + rejected
    assert set(project.users) == {f"user-{n:05d}" for n in range(0, TOTAL, 10)}
