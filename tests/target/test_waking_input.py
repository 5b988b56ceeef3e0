"""The target's standard input: a read that would block runs the target's hooks first."""

from __future__ import annotations

import io
import os
import typing as t
from pathlib import Path

import pytest
from target_amplitude import waking_input
from target_amplitude.waking_input import CompletionSignal, waking_stdin


class _Hooks:
    def __init__(self, on_idle: t.Callable[[], None]) -> None:
        self.calls: list[str] = []
        self._on_idle = on_idle

    def on_wake(self) -> None:
        self.calls.append("wake")

    def on_idle(self) -> None:
        self.calls.append("idle")
        self._on_idle()


def test_a_quiet_pipe_runs_on_wake_for_each_signal_then_on_idle_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waking_input, "LINGER_SECONDS", 0.05)
    read_end, write_end = os.pipe()
    signal = CompletionSignal()

    def tap_writes_again() -> None:
        os.write(write_end, b'{"type": "STATE"}\n')

    hooks = _Hooks(on_idle=tap_writes_again)
    with open(read_end, "rb", buffering=0) as stdin:
        reader = waking_stdin(stdin, signal, hooks)
        assert reader is not None
        signal.notify()  # a batch answered while nothing is waiting on the pipe
        signal.notify()
        assert reader.readline() == b'{"type": "STATE"}\n'
    os.close(write_end)
    signal.close()
    assert hooks.calls == ["wake", "idle"]  # both wake-ups at once, then the pause


def test_input_waiting_is_read_without_running_the_hooks() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"1\n2\n")
    os.close(write_end)
    signal = CompletionSignal()
    hooks = _Hooks(on_idle=lambda: None)
    with open(read_end, "rb", buffering=0) as stdin:
        reader = waking_stdin(stdin, signal, hooks)
        assert reader is not None
        assert list(reader) == [b"1\n", b"2\n"]
    signal.close()
    assert hooks.calls == []


def test_a_regular_file_is_read_a_megabyte_at_a_time_without_select(tmp_path: Path) -> None:
    path = tmp_path / "in.singer"
    path.write_bytes(b"a\nb\n")
    with path.open("rb") as stdin:
        reader = waking_stdin(stdin, CompletionSignal(), _Hooks(on_idle=lambda: None))
        assert isinstance(reader, io.BufferedReader)
        assert isinstance(reader.raw, io.FileIO)
        assert list(reader) == [b"a\n", b"b\n"]
    assert waking_stdin(io.BytesIO(b""), CompletionSignal(), _Hooks(lambda: None)) is None


def test_a_full_signal_never_blocks_the_lane_that_notifies() -> None:
    signal = CompletionSignal()
    for _ in range(100_000):  # far more than a pipe holds
        signal.notify()
    signal.clear()
    signal.close()
    signal.notify()  # after close: nothing happens
