"""The tap and the target as live subprocesses: fed line by line, read line by line, killed -9.

Finished runs use ``tests.tap.helpers.run_tap`` and ``tests.target.helpers.run_target``; these
helpers are for what those cannot do: stop a run at a chosen point.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import typing as t
from pathlib import Path

from tests.tap.helpers import TAP
from tests.target.helpers import TARGET

__all__ = ["LiveTarget", "kill_tap_after_lines"]


def kill_tap_after_lines(
    config: Path, catalog: Path, lines: int, state: Path | None = None
) -> list[dict[str, t.Any]]:
    """Start the tap, read ``lines`` Singer messages, kill -9 it; the messages read.

    Reading stops at a message boundary, as a target reading the pipe would; the tap may have
    written (and requested) more that nobody read.
    """
    command = [TAP, "--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        command += ["--state", str(state)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    messages: list[dict[str, t.Any]] = []
    try:
        for line in proc.stdout:
            messages.append(json.loads(line))
            if len(messages) >= lines:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the tap finished before it could be killed"
    return messages


class LiveTarget:
    """target-amplitude reading lines as they are sent; its STATE lines read as they come."""

    def __init__(self, config: Path, stderr: Path) -> None:
        self._stderr_file = stderr.open("w")
        self.stderr_path = stderr
        self.proc = subprocess.Popen(
            [TARGET, "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            text=True,
        )
        self._writer: threading.Thread | None = None

    def send(self, lines: t.Sequence[str]) -> None:
        """Write lines to the target's stdin (waits for the previous write first)."""
        self.join_writer()
        self._writer = threading.Thread(target=self._write, args=(lines,), daemon=True)
        self._writer.start()

    def _write(self, lines: t.Sequence[str]) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        # A target that died (killed, or failed) refuses the rest: what it read is what counts.
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.write("\n".join(lines) + "\n")
            stdin.flush()

    def join_writer(self) -> None:
        """Wait for the lines sent so far to be written (or refused by a dead target)."""
        if self._writer is not None:
            self._writer.join(timeout=60)
            self._writer = None

    def read_state(self) -> dict[str, t.Any] | None:
        """The next STATE value the target emits (None once its stdout is closed)."""
        stdout = self.proc.stdout
        assert stdout is not None
        line = stdout.readline()
        return json.loads(line) if line else None

    def kill(self) -> tuple[int, list[dict[str, t.Any]]]:
        """kill -9; the exit status, and the STATE values it had emitted that were not read."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        return self._reap(), self._unread_states()

    def _unread_states(self) -> list[dict[str, t.Any]]:
        """Every STATE left in the pipe, up to its end (then the pipe is closed)."""
        rest: list[dict[str, t.Any]] = []
        while (state := self.read_state()) is not None:
            rest.append(state)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return rest

    def finish(self) -> tuple[int, list[dict[str, t.Any]], str]:
        """Close stdin, let the target end; exit code, the STATE values still unread, stderr."""
        self.join_writer()
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.close()
        rest = self._unread_states()
        code = self._reap()
        return code, rest, self.stderr_path.read_text()

    def _reap(self) -> int:
        code = self.proc.wait(timeout=120)
        self.join_writer()
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.proc.stdin.close()
        self._stderr_file.close()
        return code
