"""Pipe benchmark: ``tap-amplitude | target-amplitude`` replaying one emulator project into another.

    python -m benchmarks.bench_pipe                     # 1,000,000 events, 1 round
    python -m benchmarks.bench_pipe --events 100000 --rounds 3
    python -m benchmarks.bench_pipe --quick             # 20,000 events: a smoke run

The source is the emulator's Standard project (generated events), the destination its empty EU
project, in a fresh emulator process per round. Reports the pipe's events/s, each process's wall
time and own peak RSS, and the number of events the destination stored: every event exactly once.

Each round first runs the two alone (in another fresh emulator process): the tap writing its
output to a file, then the target loading that file. Goal (issue 15): the pipe's wall time within
1.3x of the slower of the two alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.common import (
    DEST_KEYS,
    ExportWindow,
    events_only_catalog,
    machine_line,
    print_table,
    run_pipeline,
    running_emulator,
    scratch_dir,
    tool,
    verdict,
    write_json,
    write_tap_config,
)

PIPE_GOAL = 1.3


def alone(events: int, window: ExportWindow, workdir: Path) -> tuple[float, float]:
    """Wall seconds of the tap alone (to a file) and of the target alone (from that file)."""
    with running_emulator(events, workdir, window=window) as emulator:
        tap_config = write_tap_config(workdir, emulator, window)
        target_config = write_json(
            workdir / "target-config-alone.json",
            {
                "api_key": DEST_KEYS[0],
                "api_url": emulator.eu_url,
                "rejected_records_path": str(workdir / "rejected-alone.jsonl"),
                "ledger_path": str(workdir / f"ledger-alone-{time.time_ns()}.sqlite"),
            },
        )
        catalog = events_only_catalog(tap_config, workdir / "catalog.json")
        output = workdir / "tap-alone.singer"
        tap_argv = [tool("tap-amplitude"), "--config", str(tap_config), "--catalog", str(catalog)]
        tap_wall, _ = run_pipeline([("tap-alone", tap_argv)], workdir, stdout=output)
        target_argv = [tool("target-amplitude"), "--config", str(target_config)]
        target_wall, runs = run_pipeline([("target-alone", target_argv)], workdir, stdin=output)
        runs[0].check()
        output.unlink()
    print(f"  alone: tap {tap_wall:.2f} s, target {target_wall:.2f} s", flush=True)
    return tap_wall, target_wall


def one_round(events: int, window: ExportWindow, workdir: Path) -> dict[str, float]:
    tap_alone, target_alone = alone(events, window, workdir)
    with running_emulator(events, workdir, window=window) as emulator:
        tap_config = write_tap_config(workdir, emulator, window)
        target_config = write_json(
            workdir / "target-config.json",
            {
                "api_key": DEST_KEYS[0],
                "api_url": emulator.eu_url,
                "rejected_records_path": str(workdir / "rejected.jsonl"),
                "ledger_path": str(workdir / f"ledger-{time.time_ns()}.sqlite"),
            },
        )
        catalog = events_only_catalog(tap_config, workdir / "catalog.json")
        emulator_cpu = emulator.cpu_seconds()
        wall, (tap, target) = run_pipeline(
            [
                ("tap-amplitude", [tool("tap-amplitude"), "--config", str(tap_config),
                                   "--catalog", str(catalog)]),
                ("target-amplitude", [tool("target-amplitude"), "--config", str(target_config)]),
            ],
            workdir,
        )  # fmt: skip
        emulator_cpu = emulator.cpu_seconds() - emulator_cpu
        tap.check()
        target.check()
        stored = emulator.stored_events(DEST_KEYS[0])
    rejected_path = workdir / "rejected.jsonl"
    rejected = sum(1 for _ in rejected_path.open("rb")) if rejected_path.exists() else 0
    row = {
        "wall_s": wall,
        "events_per_s": events / wall,
        "tap_wall_s": tap.wall_s,
        "tap_rss_mb": tap.peak_rss_mb,
        "tap_cpu_s": tap.cpu_s,
        "target_cpu_s": target.cpu_s,
        "emulator_cpu_s": emulator_cpu,
        "target_wall_s": target.wall_s,
        "target_rss_mb": target.peak_rss_mb,
        "stored": stored,
        "rejected": rejected,
        "tap_alone_s": tap_alone,
        "target_alone_s": target_alone,
    }
    print(
        f"  round: {wall:.2f} s, {row['events_per_s']:,.0f} events/s; tap {tap.wall_s:.2f} s "
        f"(CPU {tap.cpu_s:.1f} s) {tap.peak_rss_mb:.1f} MB; target {target.wall_s:.2f} s "
        f"(CPU {target.cpu_s:.1f} s) {target.peak_rss_mb:.1f} MB; emulator CPU {emulator_cpu:.1f} s"
        f"; stored {stored:,}, rejected {rejected:,}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="tap-amplitude | target-amplitude replay")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--hours", type=int, default=48, help="hours of generated data")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 round")
    args = parser.parse_args()
    events, rounds = (20_000, 1) if args.quick else (args.events, args.rounds)
    print(f"bench_pipe: {machine_line()}; {events:,} events, {rounds} round(s)")
    window = ExportWindow(hours=args.hours)
    with scratch_dir("pipe") as tmp:
        rows = [one_round(events, window, Path(tmp)) for _ in range(rounds)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print("\n== tap-amplitude | target-amplitude (medians) ==")
    print_table(
        ["events", "pipe s", "events/s", "tap s", "tap CPU s", "tap RSS MB", "target s",
         "target CPU s", "target RSS MB", "emulator CPU s", "stored (min)", "rejected (max)"],
        [[f"{events:,}", f"{med('wall_s'):.2f}", f"{med('events_per_s'):,.0f}",
          f"{med('tap_wall_s'):.2f}", f"{med('tap_cpu_s'):.1f}",
          f"{max(r['tap_rss_mb'] for r in rows):.1f}", f"{med('target_wall_s'):.2f}",
          f"{med('target_cpu_s'):.1f}", f"{max(r['target_rss_mb'] for r in rows):.1f}",
          f"{med('emulator_cpu_s'):.1f}",
          f"{min(r['stored'] for r in rows):,.0f}", f"{max(r['rejected'] for r in rows):,.0f}"]],
    )  # fmt: skip
    exact = all(r["stored"] == events for r in rows)
    print(f"\n  every event stored exactly once in every round: {verdict(exact)}")
    slower = max(med("tap_alone_s"), med("target_alone_s"))
    ratio = med("wall_s") / slower
    print(f"  pipe {med('wall_s'):.2f} s / slower alone {slower:.2f} s (tap alone "
          f"{med('tap_alone_s'):.2f} s, target alone {med('target_alone_s'):.2f} s) = "
          f"{ratio:.2f} <= {PIPE_GOAL}: {verdict(ratio <= PIPE_GOAL)}")  # fmt: skip


if __name__ == "__main__":
    main()
