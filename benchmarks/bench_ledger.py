"""The sync ledger's goals (issue 22), printed side by side in one run.

Three runs of target-amplitude on one ledger into a fresh emulator, each a separate process
measured for wall time and peak RSS (ru_maxrss):

1. first: N user rows, every one new: sent and recorded;
2. unchanged: the same N rows: nothing sent (goal: no request, wall <= 40% of the first run's,
   peak RSS < 200 MB);
3. changed: the same rows with 1% of them changed (goal: exactly those sent).

    .venv/bin/python -m benchmarks.bench_ledger [--rows 1000000] [--changed 0.01]

Requests and rows sent are read from the target's own summary line (`requests=`, `accepted=`,
`unchanged=`), which tests/ledger hold against the emulator's request log.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmarks.common import (
    DEST_KEYS,
    ProcessRun,
    compile_working_tree,
    print_table,
    run_one,
    running_emulator,
    scratch_dir,
    tool,
    verdict,
    write_json,
)

_SUMMARY = re.compile(
    r"Summary stream=users in=(\d+) accepted=(\d+) rejected=(\d+) requests=(\d+) retried=\d+"
    r"(?: skipped=\d+)?(?: unchanged=(\d+))?"
)


def write_input(path: Path, rows: int, changed_every: int | None) -> Path:
    """SCHEMA, the rows (every changed_every-th with a new plan), a STATE every 10,000 rows."""
    schema = {
        "type": "SCHEMA",
        "stream": "users",
        "schema": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "plan": {"type": "string"},
                "country": {"type": "string"},
                "seats": {"type": "integer"},
            },
        },
        "key_properties": ["id"],
    }
    with path.open("w") as out:
        out.write(json.dumps(schema) + "\n")
        for n in range(rows):
            plan = "pro" if changed_every and n % changed_every == 0 else "free"
            row = {"id": f"user-{n:08d}", "plan": plan, "country": "FR", "seats": n % 50}
            out.write(json.dumps({"type": "RECORD", "stream": "users", "record": row}) + "\n")
            if n % 10_000 == 9_999:
                out.write(json.dumps({"type": "STATE", "value": {"n": n + 1}}) + "\n")
    return path


def figures(run: ProcessRun) -> tuple[int, int, int]:
    """(requests, accepted, unchanged) from the run's summary line."""
    match = _SUMMARY.search(run.stderr_path.read_text())
    if match is None:
        msg = f"no summary line for users:\n{run.stderr_tail()}"
        raise RuntimeError(msg)
    return int(match[4]), int(match[2]), int(match[5] or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed in run 3")
    args = parser.parse_args()
    compile_working_tree()
    changed_every = max(1, round(1 / args.changed))
    expected_changed = len(range(0, args.rows, changed_every))
    with scratch_dir("bench-ledger-") as tmp:
        workdir = Path(tmp)
        same = write_input(workdir / "users.singer", args.rows, None)
        changed = write_input(workdir / "users-changed.singer", args.rows, changed_every)
        with running_emulator(0, workdir, warm_up=False) as emulator:
            config = write_json(
                workdir / "config.json",
                {
                    "api_key": DEST_KEYS[0],
                    "api_url": emulator.eu_url,
                    "rejected_records_path": str(workdir / "rejected.jsonl"),
                    "ledger_path": str(workdir / "ledger.sqlite"),
                    "stream_mappings": {"users": {"object": "user", "user_id_field": "id"}},
                },
            )
            argv = [tool("target-amplitude"), "--config", str(config)]
            runs = {
                "first": run_one("first", argv, workdir, stdin=same).check(),
                "unchanged": run_one("unchanged", argv, workdir, stdin=same).check(),
                "changed": run_one("changed", argv, workdir, stdin=changed).check(),
            }
        ledger_mb = (workdir / "ledger.sqlite").stat().st_size / 1e6
        figs = {name: figures(run) for name, run in runs.items()}
    first_wall = runs["first"].wall_s
    rows = []
    for name, run in runs.items():
        requests, accepted, unchanged = figs[name]
        rows.append(
            [
                name,
                f"{args.rows:,}",
                f"{accepted:,}",
                f"{unchanged:,}",
                f"{requests:,}",
                f"{run.wall_s:.1f}",
                f"{run.wall_s / first_wall:.0%}",
                f"{run.peak_rss_mb:.0f}",
            ]
        )
    print(f"\nsync ledger: {args.rows:,} user rows; ledger file {ledger_mb:.1f} MB")
    print_table(
        ["run", "rows", "sent", "unchanged", "requests", "wall s", "vs first", "peak RSS MB"],
        rows,
    )
    unchanged_requests, _, _ = figs["unchanged"]
    _, changed_sent, _ = figs["changed"]
    ratio = runs["unchanged"].wall_s / first_wall
    print(f"unchanged re-run sends no request: {verdict(unchanged_requests == 0)}")
    print(f"unchanged re-run wall <= 40% of the first: {ratio:.0%} {verdict(ratio <= 0.40)}")
    rss = runs["unchanged"].peak_rss_mb
    print(f"unchanged re-run peak RSS < 200 MB: {rss:.0f} MB {verdict(rss < 200)}")
    print(
        f"changed run sends exactly the {expected_changed:,} changed rows: {changed_sent:,} "
        f"{verdict(changed_sent == expected_changed)}"
    )


if __name__ == "__main__":
    main()
