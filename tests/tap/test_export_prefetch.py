"""Export windows downloaded ahead (issue 15): order, bounds, failures, early exit.

The rules of :func:`tap_amplitude.export_prefetch.downloads_ahead` on fake downloads (threads
synchronised by events, never by sleeps), then the tap against the emulator: the same records and
STATE messages with prefetch off and at its maximum, and a failing prefetched window reported
exactly as without prefetch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from tap_amplitude.config_schema import MAX_EXPORT_PREFETCH_WINDOWS
from tap_amplitude.export_prefetch import downloads_ahead

from tests.tap.helpers import (
    ROOT,
    Emulator,
    Run,
    base_config,
    parse_messages,
    run_tap,
    select_catalog,
    write_json,
)


class FakeDownloads:
    """Downloads that finish when the test releases them; records what is alive at once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.started: list[int] = []
        self.release: dict[int, threading.Event] = {}
        self.alive: set[int] = set()  # started and not yet read or discarded
        self.max_alive = 0
        self.discarded: list[int] = []
        self.lock = threading.Condition()

    def fetch(self, window: int) -> Callable[[], int]:
        self.started.append(window)  # in the caller's thread, in window order
        with self.lock:
            self.alive.add(window)
            self.max_alive = max(self.max_alive, len(self.alive))
        event = self.release.setdefault(window, threading.Event())

        def run() -> int:
            event.wait(10)
            if window == self.fail_at:
                raise RuntimeError(f"window {window} failed")
            return window

        return run

    def read(self, window: int) -> None:
        with self.lock:
            self.alive.discard(window)

    def discard(self, window: int) -> None:
        with self.lock:
            self.discarded.append(window)
            self.alive.discard(window)
            self.lock.notify_all()

    def wait_discarded(self, count: int) -> None:
        with self.lock:
            self.lock.wait_for(lambda: len(self.discarded) >= count, timeout=10)


@pytest.mark.parametrize("ahead", [0, 1, 2, 4])
def test_windows_come_in_order_with_at_most_ahead_plus_one_alive(ahead: int) -> None:
    fake = FakeDownloads()
    for window in range(8):  # released in reverse: later windows finish first
        fake.release.setdefault(window, threading.Event())
    for window in reversed(range(8)):
        fake.release[window].set()
    read = []
    for window, pending in downloads_ahead(range(8), fake.fetch, ahead=ahead, discard=fake.discard):
        # When window k is handed out, windows k+1 .. k+ahead are already requested.
        assert fake.started == list(range(min(8, window + ahead + 1)))
        read.append(pending.result())
        fake.read(window)
    assert read == list(range(8))
    assert fake.max_alive <= ahead + 1
    assert fake.discarded == []


def test_a_prefetched_failure_is_raised_at_its_window_after_the_earlier_ones() -> None:
    fake = FakeDownloads(fail_at=2)
    fake.release[2] = threading.Event()
    fake.release[2].set()  # window 2 fails before windows 0 and 1 are even downloaded
    read = []

    def read_all() -> None:
        windows = downloads_ahead(range(6), fake.fetch, ahead=2, discard=fake.discard)
        for window, pending in windows:
            fake.release.setdefault(window, threading.Event()).set()
            read.append(pending.result())
            fake.read(window)

    with pytest.raises(RuntimeError, match="window 2 failed"):
        read_all()
    assert read == [0, 1]


def test_closing_early_discards_every_window_not_read() -> None:
    fake = FakeDownloads()
    for window in range(6):
        fake.release.setdefault(window, threading.Event()).set()
    windows = downloads_ahead(range(6), fake.fetch, ahead=3, discard=fake.discard)
    with closing(windows):
        window, pending = next(windows)
        assert pending.result() == 0
        fake.read(window)
        next(windows)  # window 1 handed out, not read: discarded too
    assert fake.started == [0, 1, 2, 3, 4]  # nothing requested after the close
    fake.wait_discarded(4)
    assert sorted(fake.discarded) == [1, 2, 3, 4]
    assert fake.alive == set()


def test_ahead_zero_downloads_in_the_callers_thread() -> None:
    threads = []

    def fetch(window: int) -> Callable[[], int]:
        return lambda: threads.append(threading.current_thread()) or window

    got = [p.result() for _, p in downloads_ahead(range(3), fetch, ahead=0, discard=print)]
    assert got == [0, 1, 2]
    assert threads == [threading.current_thread()] * 3


# -- the tap ------------------------------------------------------------------------------------


# The module's emulator (the ``emu`` fixture of tests/tap/conftest.py): make_emulator's arguments.
EMULATOR = {"events": 3000, "hours": 24}


CLOCK_READINGS = {"time_extracted", "replication_key_signpost"}


def _lines(run: Any) -> list[Any]:
    """Every message, without the clock readings (time_extracted, the bookmark's signpost)."""
    return [_without_clock(message) for message in run.messages]


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK_READINGS}
    return value


def test_prefetch_changes_nothing_in_the_output(emu: Emulator, tmp_path: Path) -> None:
    runs = {}
    for ahead in (0, 1, MAX_EXPORT_PREFETCH_WINDOWS):
        config = base_config(emu, request_time_range=3, export_prefetch_windows=ahead)
        (tmp_path / str(ahead)).mkdir()
        runs[ahead] = run_tap(tmp_path / str(ahead), config, streams={"events"})
        assert runs[ahead].returncode == 0, runs[ahead].stderr[-2000:]
    assert len(runs[0].records("events")) == 3000
    for ahead in (1, MAX_EXPORT_PREFETCH_WINDOWS):
        assert _lines(runs[ahead]) == _lines(runs[0]), ahead


def test_a_failing_prefetched_window_is_reported_as_without_prefetch(
    emu: Emulator, tmp_path: Path
) -> None:
    """The fourth of eight windows (09:00-12:00) is refused (401) on every attempt: with its
    download started early, the tap still emits windows 1-3 and their states, then fails with
    the same error, exit code and output as without prefetch."""
    runs = {}
    for ahead in (0, MAX_EXPORT_PREFETCH_WINDOWS):
        config = base_config(emu, request_time_range=3, export_prefetch_windows=ahead)
        runs[ahead] = _run_with_one_bad_window(tmp_path / str(ahead), config, "20260101T09")
    plain, prefetched = runs[0], runs[MAX_EXPORT_PREFETCH_WINDOWS]
    assert plain.returncode != 0
    assert prefetched.returncode == plain.returncode
    assert _lines(prefetched) == _lines(plain)
    assert plain.states[-1]["bookmarks"]["events"]["replication_key_value"] == (
        "2026-01-01T09:00:00.000000Z"
    )
    assert plain.records("events")
    errors = [_error_lines(run.stderr) for run in (plain, prefetched)]
    assert errors[0], plain.stderr[-2000:]
    assert errors[0] == errors[1]
    assert "401" in " ".join(errors[0])


def _error_lines(stderr: str) -> list[str]:
    """The error lines the user sees, without the log prefix (time, level, logger)."""
    return [
        line.split(" | ")[-1]
        for line in stderr.splitlines()
        if ("ERROR" in line or "CRITICAL" in line) and "METRIC" not in line
    ]


def _run_with_one_bad_window(path: Path, config: dict[str, Any], hour: str) -> Run:
    path.mkdir()
    config_path = write_json(path / "config.json", config)
    catalog = select_catalog(path, config_path, {"events"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.tap.bad_window",
            "--config",
            str(config_path),
            "--catalog",
            str(catalog),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "TAP_TEST_BAD_HOUR": hour},
    )
    return Run(done.returncode, done.stdout, done.stderr, parse_messages(done.stdout))
