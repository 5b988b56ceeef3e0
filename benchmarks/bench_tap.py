"""Tap benchmark: tap-amplitude (events stream) vs the tap floor, on the same emulator export.

    python -m benchmarks.bench_tap                      # 200,000 and 1,000,000 events, 3 rounds
    python -m benchmarks.bench_tap --quick              # 20,000 events, 1 round: a smoke run
    python -m benchmarks.bench_tap --events 200000 --rounds 5
    python -m benchmarks.bench_tap --latency-only       # the backfill latency scenario alone

For each size: one emulator process generates the events and is warmed up with one full export;
an untimed pass counts each contender's RECORD messages (a contender that drops records is
reported, not praised); then timed rounds, interleaved, with output to /dev/null.
Goals (issue 15): tap >= 70% of the floor's records/s; tap peak RSS < 150 MB at 1,000,000 events;
tap peak RSS flat (within 20%) from the smallest to the largest size.

Latency scenario (issue 15): a 7-day backfill (7 windows of 24 hours) from an emulator whose every
export waits ``--export-delay`` seconds (2) before answering, against the same data without the
delay, for each ``export_prefetch_windows`` (0, the default 2, the maximum 4). The share of the
summed export server time (7 x 2 s) that shows in the wall time is
(wall with delay - wall without) / (windows x delay). Goals: <= 50% with the default, <= 25% with
the setting raised.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    PYTHON,
    ExportWindow,
    Sample,
    Series,
    count_record_lines,
    events_only_catalog,
    machine_line,
    print_table,
    run_pipeline,
    run_rounds,
    running_emulator,
    scratch_dir,
    tool,
    verdict,
    write_json,
    write_tap_config,
)

RATIO_GOAL = 0.7
LATENCY_DAYS = 7
LATENCY_EVENTS = 70_000
LATENCY_GOALS = {2: 0.50, 4: 0.25}  # export_prefetch_windows -> the visible share allowed
RSS_GOAL_MB = 150.0
RSS_GOAL_AT = 1_000_000
FLATNESS_GOAL = 0.20


@dataclass(frozen=True)
class SizeResult:
    events: int
    series: dict[str, Series]
    counted: dict[str, int]


def contender_commands(config: Path, catalog: Path) -> dict[str, list[str]]:
    return {
        "tap-amplitude": [
            tool("tap-amplitude"),
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ],
        "floor": [PYTHON, "-m", "benchmarks.tap_floor", "--config", str(config)],
    }


def bench_size(events: int, rounds: int, window: ExportWindow, workdir: Path) -> SizeResult:
    print(f"\n== {events:,} events ({window.hours} hours from {window.start_hour}) ==", flush=True)
    with running_emulator(events, workdir, window=window) as emulator:
        config = write_tap_config(workdir, emulator, window)
        catalog = events_only_catalog(config, workdir / "catalog.json")
        commands = contender_commands(config, catalog)

        counted: dict[str, int] = {}
        for name, argv in commands.items():
            counter: dict[str, int] = {}
            _, runs = run_pipeline(
                [(name, argv)],
                workdir,
                stdout_consumer=functools.partial(count_record_lines, counter=counter),
            )
            runs[0].check()
            counted[name] = counter["records"]
            print(f"  count pass {name:<14} {counter['records']:>10,} RECORD messages", flush=True)

        def measure(name: str) -> Sample:
            _, runs = run_pipeline([(name, commands[name])], workdir)
            run = runs[0].check()
            return Sample(counted[name], run.wall_s, run.peak_rss_mb, run.cpu_s)

        series = run_rounds([(name, functools.partial(measure, name)) for name in commands], rounds)
    return SizeResult(events, series, counted)


def report(results: Sequence[SizeResult]) -> None:
    print("\n== tap-amplitude vs floor (medians) ==")
    rows = []
    for result in results:
        tap, floor = result.series["tap-amplitude"], result.series["floor"]
        ratio = tap.median_rate / floor.median_rate
        for s in (tap, floor):
            rows.append(
                [
                    f"{result.events:,}",
                    s.name,
                    f"{result.counted[s.name]:,}",
                    f"{s.median_wall:.2f}",
                    f"{s.median_rate:,.0f}",
                    f"{s.median_cpu:.1f}",
                    f"{s.max_rss:.1f}",
                    f"{ratio:.2f}" if s is tap else "",
                ]
            )
    print_table(
        [
            "events",
            "contender",
            "records",
            "median s",
            "records/s",
            "CPU s",
            "peak RSS MB",
            "tap/floor",
        ],
        rows,
    )

    print("\n== goals ==")
    for result in results:
        tap, floor = result.series["tap-amplitude"], result.series["floor"]
        ratio = tap.median_rate / floor.median_rate
        print(f"  {result.events:>9,} events: throughput ratio {ratio:.2f} >= {RATIO_GOAL}: "
              f"{verdict(ratio >= RATIO_GOAL)}")  # fmt: skip
        if result.counted["tap-amplitude"] != result.events:
            print(f"  {result.events:>9,} events: tap emitted {result.counted['tap-amplitude']:,} "
                  "records: MISSED (count differs from the export)")  # fmt: skip
        if result.events >= RSS_GOAL_AT:
            print(f"  {result.events:>9,} events: tap peak RSS {tap.max_rss:.1f} MB < "
                  f"{RSS_GOAL_MB:.0f} MB: {verdict(tap.max_rss < RSS_GOAL_MB)}")  # fmt: skip
    if len(results) > 1:
        low, high = results[0], results[-1]
        low_rss, high_rss = (
            low.series["tap-amplitude"].max_rss,
            high.series["tap-amplitude"].max_rss,
        )
        growth = high_rss / low_rss - 1
        flat = abs(growth) <= FLATNESS_GOAL
        print(
            f"  RSS flatness {low.events:,} -> {high.events:,}: {low_rss:.1f} -> {high_rss:.1f} MB"
            f" ({growth:+.0%}), within {FLATNESS_GOAL:.0%}: {verdict(flat)}"
        )


def bench_latency(delay: float, rounds: int, workdir: Path) -> None:
    """The backfill scenario: how much of the exports' server time the wall time shows."""
    window = ExportWindow(hours=24 * LATENCY_DAYS)
    windows = LATENCY_DAYS
    print(f"\n== latency: {LATENCY_EVENTS:,} events, {windows} windows of 24 h, "
          f"export delay {delay:.1f} s (summed server time {windows * delay:.1f} s) ==",
          flush=True)  # fmt: skip
    walls: dict[tuple[int, float], list[float]] = {}
    settings = (0, 2, 4)
    for wait in (0.0, delay):
        with running_emulator(
            LATENCY_EVENTS, workdir, window=window, export_delay=wait
        ) as emulator:
            base = write_tap_config(workdir, emulator, window)
            catalog = events_only_catalog(base, workdir / "catalog-latency.json")
            for _ in range(rounds):
                for ahead in settings:
                    config = write_json(
                        workdir / f"tap-latency-{ahead}.json",
                        {**json.loads(base.read_text()), "request_time_range": 24,
                         "export_prefetch_windows": ahead},
                    )  # fmt: skip
                    argv = contender_commands(config, catalog)["tap-amplitude"]
                    _, runs = run_pipeline([(f"tap-{ahead}", argv)], workdir)
                    run = runs[0].check()
                    walls.setdefault((ahead, wait), []).append(run.wall_s)
                    print(f"  export_prefetch_windows={ahead} delay {wait:.1f} s: "
                          f"{run.wall_s:6.2f} s wall, CPU {run.cpu_s:.1f} s",
                          flush=True)  # fmt: skip
    rows, shares = [], {}
    for ahead in settings:
        plain = statistics.median(walls[(ahead, 0.0)])
        slow = statistics.median(walls[(ahead, delay)])
        share = (slow - plain) / (windows * delay)
        shares[ahead] = share
        rows.append([str(ahead), f"{plain:.2f}", f"{slow:.2f}", f"{slow - plain:.2f}",
                     f"{share:.0%}"])  # fmt: skip
    print_table(
        ["export_prefetch_windows", "no delay s", "delay s", "added s", "server time visible"],
        rows,
    )
    print("\n== latency goals ==")
    for ahead, goal in LATENCY_GOALS.items():
        share = shares[ahead]
        print(f"  export_prefetch_windows={ahead}: {share:.0%} of the export server time "
              f"visible <= {goal:.0%}: {verdict(share <= goal)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="tap-amplitude vs the tap floor")
    parser.add_argument("--events", type=lambda v: [int(x) for x in v.split(",")],
                        default=[200_000, 1_000_000], help="comma-separated sizes")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hours", type=int, default=48, help="hours of generated data")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 round")
    parser.add_argument("--export-delay", type=float, default=2.0,
                        help="seconds each export waits in the latency scenario")  # fmt: skip
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--latency-only", action="store_true", help="only the latency scenario")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency scenario")
    args = parser.parse_args()
    sizes, rounds = ([20_000], 1) if args.quick else (args.events, args.rounds)
    print(f"bench_tap: {machine_line()}; sizes {sizes}, {rounds} round(s)")
    window = ExportWindow(hours=args.hours)
    with scratch_dir("tap") as tmp:
        if not args.latency_only:
            results = [bench_size(n, rounds, window, Path(tmp)) for n in sizes]
            report(results)
        if not (args.no_latency or args.quick):
            bench_latency(args.export_delay, args.latency_rounds, Path(tmp))


if __name__ == "__main__":
    main()
