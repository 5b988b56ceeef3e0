"""Drive tap-amplitude as a user does: a subprocess with config/state files, Singer on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amplitude_emulator import Emulator, GeneratorSpec

TAP = str(Path(sys.executable).parent / "tap-amplitude")
ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "key-tap-std", "secret-tap-std-7f3a"
EU_KEY, EU_SECRET = "key-tap-eu", "secret-tap-eu-91bc"
START, END = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
FAST_RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "max_attempts": 4}

__all__ = [
    "END",
    "EU_KEY",
    "EU_SECRET",
    "KEY",
    "SECRET",
    "START",
    "TAP",
    "Emulator",
    "GeneratorSpec",
    "Run",
    "base_config",
    "config_for",
    "make_emulator",
    "run_tap",
    "select_catalog",
    "write_json",
]


@dataclass
class Run:
    """One finished tap run."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def bookmark(self, stream: str = "events") -> Any:
        return self.states[-1]["bookmarks"][stream].get("replication_key_value")


def make_emulator(events: int = 2000, hours: int = 24, **project: Any) -> Emulator:
    emu = Emulator()
    proj = emu.add_project(
        api_key=KEY, secret_key=SECRET, region="standard", project_id=187520, **project
    )
    proj.generate(
        GeneratorSpec(seed=7, events=events, start="2026-01-01T00", hours=hours, users=60)
    )
    emu.add_project(api_key=EU_KEY, secret_key=EU_SECRET, region="eu", project_id=187521)
    return emu.start()


def base_config(emu: Emulator, **overrides: Any) -> dict[str, Any]:
    """The tap's config for the standard project of ``make_emulator``."""
    return config_for(emu.url("standard"), **overrides)


def config_for(api_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "api_key": KEY,
        "secret_key": SECRET,
        "api_url": api_url,
        "start_date": START,
        "end_date": END,
        **FAST_RETRIES,
        **overrides,
    }


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


_discovered: str | None = None


def select_catalog(
    tmp: Path, config: Path, streams: set[str], deselect_fields: tuple[str, ...] = ()
) -> Path:
    """The discovered catalog with only ``streams`` selected (minus ``deselect_fields``).

    The tap's catalog is static (tests/tap/test_cli.py checks its discovery), so it is
    discovered once per test process and copied for each selection.
    """
    global _discovered  # noqa: PLW0603 - a per-process cache of the tap's static catalog
    if _discovered is None:
        done = subprocess.run(
            [TAP, "--config", str(config), "--discover"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        _discovered = done.stdout
    catalog = json.loads(_discovered)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
            elif item["breadcrumb"] in [["properties", f] for f in deselect_fields]:
                item["metadata"]["selected"] = False
    suffix = "-".join(("", *deselect_fields))
    return write_json(tmp / f"catalog{suffix}.json", catalog)


def run_tap(
    tmp: Path,
    config: dict[str, Any],
    *,
    streams: set[str] | None = None,
    state: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 120,
    now: str | None = None,
    catalog: Path | None = None,
) -> Run:
    """Run the tap to completion (selecting ``streams`` only, when given); with ``now`` (an
    ISO instant) its clock is frozen there (see tests/tap/frozen_clock.py)."""
    config_path = write_json(tmp / "config.json", config)
    command = [TAP, "--config", str(config_path), *args]
    env = None
    if now is not None:
        command[0:1] = [sys.executable, "-m", "tests.tap.frozen_clock"]
        env = {**os.environ, "TAP_TEST_NOW": now}
    if streams is not None:
        command += ["--catalog", str(select_catalog(tmp, config_path, streams))]
    elif catalog is not None:
        command += ["--catalog", str(catalog)]
    if state is not None:
        command += ["--state", str(write_json(tmp / "state.json", state))]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env=env,
    )
    messages = parse_messages(done.stdout) if not args else []
    return Run(done.returncode, done.stdout, done.stderr, messages)
