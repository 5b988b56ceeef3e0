"""Drive target-amplitude as a user does: a subprocess fed Singer lines, with a config file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

TARGET = str(Path(sys.executable).with_name("target-amplitude"))
FAST_RETRIES = {
    "retry_initial_delay_seconds": 0.01,
    "throttle_delay_seconds": 0.05,
    "retry_deadline_seconds": 20,
}


@dataclass
class Run:
    """What a user sees of one run."""

    returncode: int
    stdout: str
    stderr: str
    rejected: list[dict[str, t.Any]]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """The STATE lines the target emitted on stdout, in order."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def schema(stream: str, properties: dict[str, t.Any], keys: t.Sequence[str] = ()) -> str:
    """A SCHEMA line."""
    return json.dumps(
        {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": properties},
            "key_properties": list(keys),
        }
    )


def record(stream: str, rec: dict[str, t.Any]) -> str:
    """A RECORD line."""
    return json.dumps({"type": "RECORD", "stream": stream, "record": rec})


def state(value: dict[str, t.Any]) -> str:
    """A STATE line."""
    return json.dumps({"type": "STATE", "value": value})


def props(*names: str, kind: str = "string") -> dict[str, t.Any]:
    """Schema properties, all of one nullable type."""
    return {n: {"type": [kind, "null"]} for n in names}


def write_config(tmp_path: Path, config: dict[str, t.Any]) -> Path:
    """config.json in tmp_path, rejected file and sync ledger defaulting into tmp_path."""
    config = {
        "rejected_records_path": str(tmp_path / "rejected.jsonl"),
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        **config,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def read_rejected(path: Path) -> list[dict[str, t.Any]]:
    """The rejected-records file's lines."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_target(
    tmp_path: Path,
    config: dict[str, t.Any],
    lines: t.Iterable[str],
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Run:
    """Run the target CLI on these lines (``env``: variables added to the environment)."""
    cfg = write_config(tmp_path, config)
    proc = subprocess.run(
        [TARGET, "--config", str(cfg)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    rejected_path = Path(json.loads(cfg.read_text())["rejected_records_path"])
    return Run(proc.returncode, proc.stdout, proc.stderr, read_rejected(rejected_path))
