"""Peak memory and speed of the cohort_members stream on one large cohort (issue 13).

The emulator runs in this process (a thread) and serves one cohort of ``--members`` members
through the S3 redirect (gzip); tap-amplitude runs as a child with only ``cohort_members``
selected, its output counted through a pipe. The child's own peak RSS and CPU come from
``os.wait4``. Goal: under 150 MB peak RSS for 1,000,000 members.

    .venv/bin/python -m benchmarks.bench_cohort_members [--members N] [--properties a,b]

Standard library and the dev venv only (no bench group needed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amplitude_emulator import Emulator

from benchmarks.common import compile_working_tree

ROOT = Path(__file__).resolve().parent.parent
TAP = str(Path(sys.executable).parent / "tap-amplitude")
KEY, SECRET = "key-bench", "secret-bench"
COHORT = "bench01"


def _catalog(config: Path, workdir: Path) -> Path:
    discovered = json.loads(
        subprocess.run(
            [TAP, "--config", str(config), "--discover"], capture_output=True, check=True
        ).stdout
    )
    for stream in discovered["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "cohort_members"
    path = workdir / "catalog.json"
    path.write_text(json.dumps(discovered))
    return path


def run(members: int, properties: list[str]) -> dict[str, float]:
    """One measured run; returns records, wall seconds, peak RSS (MB) and CPU seconds."""
    emulator = Emulator(record_bodies=False)
    project = emulator.add_project(KEY, SECRET)
    project.add_cohort("Benchmark audience", members, cohort_id=COHORT)
    emulator.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cohort-") as tmp:
            workdir = Path(tmp)
            config = workdir / "config.json"
            config.write_text(
                json.dumps(
                    {
                        "api_key": KEY,
                        "secret_key": SECRET,
                        "api_url": emulator.url("standard"),
                        "cohort_ids": [COHORT],
                        "cohort_member_properties": properties,
                        "backoff_base_seconds": 0.2,
                        "backoff_max_seconds": 2,
                    }
                )
            )
            catalog = _catalog(config, workdir)
            stderr = (workdir / "tap.stderr").open("wb")
            started = time.perf_counter()
            process = subprocess.Popen(
                [TAP, "--config", str(config), "--catalog", str(catalog)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=ROOT,
            )
            assert process.stdout is not None
            records = sum(1 for line in process.stdout if b'"RECORD"' in line[:64])
            process.stdout.close()
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            stderr.close()
            if os.waitstatus_to_exitcode(status) != 0:
                tail = (workdir / "tap.stderr").read_text(errors="replace")[-3000:]
                raise SystemExit(f"tap-amplitude failed:\n{tail}")
    finally:
        emulator.stop()
    return {
        "records": records,
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--properties", default="", help="comma-separated user properties")
    args = parser.parse_args()
    compile_working_tree()
    properties = [p for p in args.properties.split(",") if p]
    result = run(args.members, properties)
    print(
        f"cohort_members: {result['records']:,} of {args.members:,} members, "
        f"{result['wall_s']:.1f}s wall, {result['cpu_s']:.1f}s CPU, "
        f"{result['records'] / result['wall_s']:,.0f} records/s, "
        f"peak RSS {result['peak_rss_mb']:.1f} MB (goal: under 150 MB)"
    )
    if result["records"] != args.members:
        raise SystemExit("records missing or duplicated")


if __name__ == "__main__":
    main()
