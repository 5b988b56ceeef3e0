"""kill -9 a tap run and a target run at points chosen by events, then resume.

Each kill point is an independent case, named for the event it follows: for the tap, the Singer
line read (after the SCHEMA, mid-window, right after or right before a STATE); for the target,
the Nth request /batch received and held unanswered by the emulator. No point depends on timing,
so every run kills at the same place. The run is killed, restarted from the last STATE it
emitted before the kill, and the counts must equal an uninterrupted run's.
- tap: every uuid exactly once after dedup, no gap; only the window in progress is repeated.
- target: every record stored exactly once (insert_id) or in the rejected file, never both.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from amplitude_emulator import Emulator

from tests.reliability.emulator_log import wait_for_requests
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


def _nth(messages: t.Sequence[dict[str, t.Any]], kind: str, n: int) -> int:
    """The index of the ``n``th (1-based) message of type ``kind``."""
    return [i for i, m in enumerate(messages) if m["type"] == kind][n - 1]


def _outline(messages: t.Sequence[dict[str, t.Any]]) -> list[tuple[str, t.Any]]:
    """Each message's type and what identifies it (a record's uuid, a state's bookmark)."""
    return [
        (m["type"], m["record"]["uuid"] if "record" in m else _bookmark([m.get("value") or {}]))
        for m in messages
    ]


# Kill points: how many Singer lines of the uninterrupted run are read before kill -9, found by
# the messages of that run (the same data gives the same messages, so the same points). Each
# leaves at least two windows unread: more than a pipe buffer, so the tap is still running.
TAP_KILL_POINTS: dict[str, Callable[[t.Sequence[dict[str, t.Any]]], int]] = {
    "after-the-schema": lambda m: _nth(m, "RECORD", 1),
    "mid-first-window": lambda m: (_nth(m, "RECORD", 1) + _nth(m, "STATE", 1)) // 2,
    "right-after-the-2nd-state": lambda m: _nth(m, "STATE", 2) + 1,
    "right-before-the-4th-state": lambda m: _nth(m, "STATE", 4),
    "mid-6th-window": lambda m: (_nth(m, "STATE", 5) + _nth(m, "STATE", 6)) // 2,
}


@pytest.mark.parametrize("point", TAP_KILL_POINTS)
def test_tap_killed_then_resumed_emits_every_uuid_once_after_dedup(
    tap_emu: Emulator,
    tap_files: tuple[Path, Path],
    tap_baseline: Run,
    tmp_path: Path,
    point: str,
) -> None:
    config, catalog = tap_files
    baseline_uuids = [r["uuid"] for r in tap_baseline.records("events")]
    held = {e["uuid"] for e in tap_emu.project(KEY).export_events("20260101T00", "20260101T23")}
    assert_each_exactly_once(baseline_uuids, held)

    lines = TAP_KILL_POINTS[point](tap_baseline.messages)
    killed = kill_tap_after_lines(config, catalog, lines)
    assert _outline(killed) == _outline(tap_baseline.messages[:lines])  # the chosen point
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
def target_emu(empty_emulator: Emulator) -> Emulator:
    return empty_emulator


def _target_config(emu: Emulator) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emu.base_url,
        "batch_size_rows": 100,
        "max_concurrent_requests": 2,
        "stream_mappings": {"people": {"object": "user", "user_id_field": "id"}},
        **FAST_RETRIES,
    }


@pytest.fixture(scope="module")
def target_baseline(
    target_emu: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, int, int]:
    """An uninterrupted run: (STATE lines emitted, events stored, records rejected)."""
    target_emu.reset(data=True)
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
    assert len(run.states) > max(TARGET_KILL_AFTER_STATES) + 1, "a kill point past the end"
    return len(run.states), len(stored), len(rejected)


# Kill points: once the target has emitted its kth STATE, the emulator holds every request to
# /batch from then on, received and unanswered; kill -9 while the first of them is held.
TARGET_KILL_AFTER_STATES = [1, 2, 3, 4, 5]


@pytest.mark.parametrize("states", TARGET_KILL_AFTER_STATES)
def test_target_killed_then_resumed_stores_every_record_once_or_rejects_it(
    target_emu: Emulator,
    target_baseline: tuple[int, int, int],
    tmp_path: Path,
    states: int,
) -> None:
    _, stored_total, rejected_total = target_baseline
    target_emu.reset(data=True)
    config = _target_config(target_emu)
    live = LiveTarget(write_config(tmp_path, config), tmp_path / "stderr.log")
    live.send(_target_lines(0))
    seen = [live.read_state() for _ in range(states)]
    hold = target_emu.faults.hold("/batch")
    hold.wait_held(1)
    code, unread = live.kill()
    assert code == -9, "the target finished before it could be killed"
    seen += unread  # emitted before the kill: an orchestrator would have read them
    # Amplitude received the held request(s) before the client died: it handles them.
    in_flight = hold.held
    hold.release()
    answered = len(target_emu.requests_to("/batch"))
    wait_for_requests(target_emu, "/batch", at_least=answered + in_flight)
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
