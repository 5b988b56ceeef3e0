"""Throughput of target-amplitude's user_mapping, deletion and cohort objects vs their limits.

    .venv/bin/python -m benchmarks.bench_admin [--quick] [--mappings N] [--deletions N]
                                               [--members N]

Each object runs as its own target-amplitude process against the local emulator (in this
process, with its request log), fed N rows. Reported per object: wall time of the run, the
steady-state rate measured from the emulator's request log (ids between the first and the last
request over the time between them: the documented limit applies there), the documented limit,
and the worst window seen by the emulator (most ids in any 30 s for /usermap; shortest gap
between two deletion requests). Nothing is asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl

from amplitude_emulator import Emulator

from benchmarks.common import compile_working_tree

TARGET = str(Path(sys.executable).with_name("target-amplitude"))


def _lines(
    stream: str, field: str, ids: t.Iterable[str], extra: dict[str, str] | None = None
) -> str:
    props = {field: {"type": "string"}, **{k: {"type": "string"} for k in extra or {}}}
    out = [
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": stream,
                "schema": {"type": "object", "properties": props},
                "key_properties": [],
            }
        )
    ]
    out += [
        json.dumps({"type": "RECORD", "stream": stream, "record": {field: i, **(extra or {})}})
        for i in ids
    ]
    return "\n".join(out) + "\n"


def _run(emu: Emulator, workdir: Path, mapping: dict[str, t.Any], text: str) -> float:
    config = {
        "api_key": "key-std",
        "secret_key": "secret-std",
        "api_url": emu.base_url,
        "analytics_api_url": emu.base_url,
        "project_id": 187520,
        "deletion_requester": "bench@example.com",
        "allow_deletions": True,
        "rejected_records_path": str(workdir / "rejected.jsonl"),
        "ledger_path": str(workdir / f"ledger-{time.time_ns()}.sqlite"),
        "stream_mappings": mapping,
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    started = time.perf_counter()
    done = subprocess.run(
        [TARGET, "--config", str(path)], input=text.encode(), capture_output=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode()[-3000:])
        raise SystemExit(f"target-amplitude failed ({done.returncode})")
    return elapsed


def _seed(emu: Emulator, prefix: str, count: int) -> list[str]:
    ids = [f"{prefix}-{i:07d}" for i in range(count)]
    project = emu.project("key-std")
    for start in range(0, count, 10_000):
        project.ingest(
            [{"event_type": "Seen", "user_id": u} for u in ids[start : start + 10_000]], "/batch"
        )
    return ids


def bench_usermap(emu: Emulator, workdir: Path, count: int) -> list[str]:
    emu.reset_requests()
    ids = [f"alias-{i:07d}" for i in range(count)]
    text = _lines("aliases", "uid", ids, {"gid": "person"})
    mapping = {
        "aliases": {"object": "user_mapping", "user_id_field": "uid", "global_user_id_field": "gid"}
    }
    elapsed = _run(emu, workdir, mapping, text)
    reqs = emu.requests_to("/usermap")
    sizes = [len(json.loads(dict(parse_qsl(r.body.decode()))["mapping"])) for r in reqs]
    worst = max(
        sum(
            n
            for r2, n in zip(reqs, sizes, strict=True)
            if r.started <= r2.started < r.started + 30.0
        )
        for r in reqs
    )
    span = reqs[-1].started - reqs[0].started
    steady = (count - sizes[-1]) / span if span else float("nan")
    return [
        "user_mapping (/usermap)",
        f"{count:,}",
        f"{elapsed:.1f}",
        f"{len(reqs)}",
        f"{steady:.1f} mappings/s",
        "50 mappings/s over 30 s (1,500 per 30 s)",
        f"max {worst:,} in any 30 s",
    ]


def bench_deletions(emu: Emulator, workdir: Path, count: int) -> list[str]:
    ids = _seed(emu, "erase", count)
    emu.reset_requests()
    mapping = {"erasures": {"object": "deletion", "user_id_field": "uid"}}
    elapsed = _run(emu, workdir, mapping, _lines("erasures", "uid", ids))
    reqs = [r for r in emu.requests_to("/api/2/deletions/users") if r.method == "POST"]
    gaps = [b.started - a.started for a, b in itertools.pairwise(reqs)]
    span = reqs[-1].started - reqs[0].started
    last = len(json.loads(reqs[-1].body)["user_ids"])
    steady = (count - last) / span if span else float("nan")
    return [
        "deletion (/api/2/deletions/users)",
        f"{count:,}",
        f"{elapsed:.1f}",
        f"{len(reqs)}",
        f"{steady:.1f} ids/s",
        "1 request/s x 100 ids = 100 ids/s",
        f"min gap {min(gaps):.3f} s" if gaps else "-",
    ]


def bench_cohort(emu: Emulator, workdir: Path, count: int) -> list[str]:
    ids = _seed(emu, "member", count)
    emu.reset_requests()
    mapping = {
        "members": {
            "object": "cohort",
            "cohort_name": "Bench",
            "cohort_owner": "bench@example.com",
            "user_id_field": "uid",
        }
    }
    elapsed = _run(emu, workdir, mapping, _lines("members", "uid", ids))
    uploads = emu.requests_to("/api/3/cohorts/upload") + emu.requests_to(
        "/api/3/cohorts/membership"
    )
    sent = sum(r.duration for r in uploads)
    return [
        "cohort (/api/3/cohorts/upload + /membership)",
        f"{count:,}",
        f"{elapsed:.1f}",
        f"{len(uploads)}",
        f"{count / elapsed:,.0f} ids/s end to end",
        "100,000 ids per request (no rate documented)",
        f"{sent:.1f} s in requests",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--mappings", type=int, default=4500)
    parser.add_argument("--deletions", type=int, default=1000)
    parser.add_argument("--members", type=int, default=250_000)
    args = parser.parse_args(argv)
    compile_working_tree()
    if args.quick:
        args.mappings, args.deletions, args.members = 1600, 300, 20_000
    emu = Emulator()
    emu.add_project("key-std", "secret-std", project_id=187520)
    emu.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
            workdir = Path(tmp)
            rows.append(bench_deletions(emu, workdir, args.deletions))
            rows.append(bench_cohort(emu, workdir, args.members))
            rows.append(bench_usermap(emu, workdir, args.mappings))
    finally:
        emu.stop()
    headers = [
        "object",
        "rows",
        "wall s",
        "requests",
        "steady rate",
        "documented limit",
        "worst seen",
    ]
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
