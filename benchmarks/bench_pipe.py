"""Pipe benchmark: ``tap-amplitude | target-amplitude``, with both servers out of the way.

    python -m benchmarks.bench_pipe                     # 1,000,000 events, every shape, 1 round
    python -m benchmarks.bench_pipe --events 200000 --shapes full --rounds 3
    python -m benchmarks.bench_pipe --baseline e614379  # A/B: make bench-pipe BASELINE=...
    python -m benchmarks.bench_pipe --quick             # 20,000 events: a smoke run

The tap reads a generated export (:mod:`benchmarks.export_shapes`, one 24-hour window) from
:mod:`benchmarks.export_server`; the target loads into :mod:`benchmarks.null_ingest`, which counts
the events that arrive: every event exactly once. Each round runs, for the working tree and then
each ``--baseline`` ref (in the reverse order every other round: rounds.round_order): the tap
alone (to a file), the target alone (from that file), then the pipe. Goal (issue 23): the pipe's
wall time within 1.3x of the slower of the two alone, at 1,000,000 events.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import baseline, export_shapes
from benchmarks.bench_tap import events_only_catalog_of, tap_config
from benchmarks.common import (
    DEST_KEYS,
    RunningServer,
    compile_working_tree,
    machine_line,
    print_table,
    run_pipeline,
    running_server,
    scratch_dir,
    stop_cleanly_on_sigterm,
    tool,
    verdict,
    write_json,
)
from benchmarks.rounds import round_order

PIPE_GOAL = 1.3
TAP, TARGET = "tap-amplitude", "target-amplitude"


@dataclass
class Rounds:
    """The rounds of one version (the working tree or a baseline) on one shape."""

    label: str
    rows: list[dict[str, float]] = field(default_factory=list)

    def med(self, key: str) -> float:
        return statistics.median(r[key] for r in self.rows)

    def low_high(self, key: str) -> str:
        values = [r[key] for r in self.rows]
        return f"{min(values):.2f}-{max(values):.2f}"


def one_round(
    label: str,
    tap: str,
    target: str,
    events: int,
    export: RunningServer,
    null: RunningServer,
    workdir: Path,
) -> dict[str, float]:
    slug = label.replace(" ", "-")
    config = tap_config(workdir, export.url, 24)
    catalog = events_only_catalog_of(tap, config, workdir / f"catalog-{slug}.json")

    def target_argv_fresh() -> list[str]:
        # Every run a first run: a fresh sync ledger (issue 22; a kept one would send nothing).
        target_config = write_json(
            workdir / f"target-config-{slug}.json",
            {"api_key": DEST_KEYS[0], "api_url": null.url,
             "rejected_records_path": str(workdir / f"rejected-{slug}.jsonl"),
             "ledger_path": str(workdir / f"ledger-{slug}-{time.time_ns()}.sqlite")},
        )  # fmt: skip
        return [target, "--config", str(target_config)]

    tap_argv = [tap, "--config", str(config), "--catalog", str(catalog)]
    target_argv = target_argv_fresh()
    output = workdir / f"tap-alone-{slug}.singer"
    tap_alone, runs = run_pipeline([("tap-alone", tap_argv)], workdir, stdout=output)
    runs[0].check()
    target_alone, runs = run_pipeline([("target-alone", target_argv)], workdir, stdin=output)
    runs[0].check()
    output.unlink()
    before = null.null_stats()["events"]
    server_cpu = null.cpu_seconds()
    wall, (tap_run, target_run) = run_pipeline(
        [("tap-amplitude", tap_argv), ("target-amplitude", target_argv_fresh())], workdir
    )
    tap_run.check()
    target_run.check()
    arrived = null.null_stats()["events"] - before
    row = {
        "wall_s": wall,
        "events_per_s": events / wall,
        "tap_cpu_s": tap_run.cpu_s,
        "tap_rss_mb": tap_run.peak_rss_mb,
        "target_cpu_s": target_run.cpu_s,
        "target_rss_mb": target_run.peak_rss_mb,
        "server_cpu_s": null.cpu_seconds() - server_cpu,
        "arrived": arrived,
        "tap_alone_s": tap_alone,
        "target_alone_s": target_alone,
    }
    print(f"  {label:<22} pipe {wall:7.2f} s ({row['events_per_s']:,.0f} events/s); alone: "
          f"tap {tap_alone:.2f} s, target {target_alone:.2f} s; CPU tap {tap_run.cpu_s:.1f} s, "
          f"target {target_run.cpu_s:.1f} s; RSS tap {tap_run.peak_rss_mb:.1f} MB, target "
          f"{target_run.peak_rss_mb:.1f} MB; arrived {arrived:,}", flush=True)  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="tap-amplitude | target-amplitude")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--shapes", default=",".join(export_shapes.SHAPES))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", default="", help="comma-separated git refs, alternated")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 round")
    args = parser.parse_args()
    compile_working_tree()
    stop_cleanly_on_sigterm()
    events, rounds = (20_000, 1) if args.quick else (args.events, args.rounds)
    shapes = [s for s in args.shapes.split(",") if s]
    baselines = [baseline.prepare(ref) for ref in args.baseline.split(",") if ref]
    versions = [("working tree", tool(TAP), tool(TARGET))] + [
        (f"baseline {b.label}", b.tool(TAP), b.tool(TARGET)) for b in baselines
    ]
    print(f"bench_pipe: {machine_line()}; {events:,} events, shapes {shapes}, {rounds} round(s), "
          f"baselines {[b.label for b in baselines] or 'none'}")  # fmt: skip
    results: dict[str, dict[str, Rounds]] = {}
    with (
        scratch_dir("pipe") as tmp,
        running_server("benchmarks.null_ingest", [], Path(tmp)) as null,
    ):
        for shape in shapes:
            export = export_shapes.build(shape, events)
            print(f"\n== {events:,} events, shape {shape} ({export.line_bytes} bytes a line) ==")
            results[shape] = {label: Rounds(label) for label, _, _ in versions}
            with running_server(
                "benchmarks.export_server", ["--folder", str(export.folder)], Path(tmp)
            ) as server:
                for round_number in range(1, rounds + 1):
                    for label, tap, target in round_order(versions, round_number):
                        row = one_round(label, tap, target, events, server, null, Path(tmp))
                        results[shape][label].rows.append(row)

    print("\n== tap-amplitude | target-amplitude (medians; range = fastest-slowest round) ==")
    labels = [label for label, _, _ in versions]
    rows = []
    for shape, by_label in results.items():
        ours = by_label["working tree"]
        for label in labels:
            r = by_label[label]
            slower = max(r.med("tap_alone_s"), r.med("target_alone_s"))
            rows.append(
                [f"{events:,}", shape, label, f"{r.med('wall_s'):.2f}", r.low_high("wall_s"),
                 f"{r.med('events_per_s'):,.0f}", f"{r.med('tap_alone_s'):.2f}",
                 f"{r.med('target_alone_s'):.2f}", f"{r.med('wall_s') / slower:.2f}",
                 f"{r.med('tap_cpu_s'):.1f}", f"{max(x['tap_rss_mb'] for x in r.rows):.1f}",
                 f"{r.med('target_cpu_s'):.1f}",
                 f"{max(x['target_rss_mb'] for x in r.rows):.1f}",
                 f"{min(x['arrived'] for x in r.rows):,.0f}",
                 "" if r is ours else f"{r.med('wall_s') / ours.med('wall_s'):.2f}"]
            )  # fmt: skip
    print_table(
        ["events", "shape", "version", "pipe s", "range s", "events/s", "tap alone s",
         "target alone s", "pipe/slower alone", "tap CPU s", "tap RSS MB", "target CPU s",
         "target RSS MB", "arrived (min)", "BASELINE (its pipe s / ours)"],
        rows,
    )  # fmt: skip
    print("\n== goals (issue 23) ==")
    for shape, by_label in results.items():
        ours = by_label["working tree"]
        slower = max(ours.med("tap_alone_s"), ours.med("target_alone_s"))
        ratio = ours.med("wall_s") / slower
        exact = all(r["arrived"] == events for r in ours.rows)
        print(f"  {shape:<5}: every event arrived exactly once in every round: {verdict(exact)}")
        print(f"  {shape:<5}: pipe {ours.med('wall_s'):.2f} s / slower alone {slower:.2f} s = "
              f"{ratio:.2f} <= {PIPE_GOAL}: {verdict(ratio <= PIPE_GOAL)}")  # fmt: skip
        for label in labels[1:]:
            speed = by_label[label].med("wall_s") / ours.med("wall_s")
            print(f"  {shape:<5}: pipe speed vs {label.removeprefix('baseline ')}: {speed:.2f}x")


if __name__ == "__main__":
    main()
