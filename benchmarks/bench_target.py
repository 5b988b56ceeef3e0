"""Target benchmark: target-amplitude vs the official Python SDK vs the target floor.

    python -m benchmarks.bench_target                   # 200,000 and 1,000,000 events, 3 rounds
    python -m benchmarks.bench_target --quick           # 20,000 events, 1 round: a smoke run
    python -m benchmarks.bench_target --events 200000 --rounds 5

The Singer input (N export-shaped event records) is made once per size by tap-amplitude from an
emulator export and cached under benchmarks/.cache/. Every run of every contender loads that file
into a fresh emulator process (its empty EU project), and afterwards the emulator is asked how
many events it stored: a contender that loses events is reported, not praised.
Contenders: target-amplitude, the official SDK, the floor on one connection (``floor``) and on 4
(``floor-4``, as many as target-amplitude's default ``max_concurrent_requests``).
Goals: target >= 1.5x the SDK's events/s (issue 6), >= 0.8x the 4-connection floor's (issue 15),
and peak RSS < 200 MB at 1,000,000 events.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    DEST_KEYS,
    PYTHON,
    REPO_ROOT,
    ExportWindow,
    Sample,
    Series,
    events_only_catalog,
    machine_line,
    print_table,
    run_one,
    run_rounds,
    running_emulator,
    scratch_dir,
    tool,
    verdict,
    write_json,
    write_tap_config,
)

CACHE_DIR = REPO_ROOT / "benchmarks" / ".cache"
SDK_GOAL = 1.5
FLOOR_GOAL = 0.6
FLOOR4_GOAL = 0.8
RSS_GOAL_MB = 200.0
RSS_GOAL_AT = 1_000_000

Command = Callable[[Path], list[str]]
CONTENDERS: dict[str, Command] = {
    "target-amplitude": lambda config: [tool("target-amplitude"), "--config", str(config)],
    "amplitude-sdk": lambda config: [
        PYTHON,
        "-m",
        "benchmarks.sdk_loader",
        "--config",
        str(config),
    ],
    "floor": lambda config: [PYTHON, "-m", "benchmarks.target_floor", "--config", str(config)],
    "floor-4": lambda config: [
        PYTHON,
        "-m",
        "benchmarks.target_floor",
        "--config",
        str(config),
        "--connections",
        "4",
    ],
}


@dataclass(frozen=True)
class SizeResult:
    events: int
    series: dict[str, Series]


def count_records(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if b'"RECORD"' in line[:64])


def build_input(events: int, window: ExportWindow, workdir: Path) -> tuple[Path, int]:
    """The Singer input of ``events`` records, made by tap-amplitude once and cached."""
    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"events-{events}-{window.hours}h.singer"
    if not path.exists():
        print(f"  making the input: tap-amplitude export of {events:,} events", flush=True)
        with running_emulator(events, workdir, window=window, warm_up=False) as emulator:
            config = write_tap_config(workdir, emulator, window)
            catalog = events_only_catalog(config, workdir / "catalog.json")
            partial = path.with_suffix(".partial")
            run_one(
                "tap-amplitude",
                [tool("tap-amplitude"), "--config", str(config), "--catalog", str(catalog)],
                workdir,
                stdout=partial,
            ).check()
            partial.rename(path)
    records = count_records(path)
    print(f"  input {path.name}: {records:,} RECORD messages", flush=True)
    return path, records


def measure(name: str, source: Path, records: int, workdir: Path) -> Sample:
    """One run of one contender into a fresh emulator; the emulator's stored count afterwards."""
    with running_emulator(0, workdir, warm_up=False) as emulator:
        config = write_json(
            workdir / f"{name}-config.json",
            {
                "api_key": DEST_KEYS[0],
                "api_url": emulator.eu_url,
                "rejected_records_path": str(workdir / f"{name}-rejected.jsonl"),
                # Every run a first run: a fresh sync ledger (a kept one would send nothing).
                "ledger_path": str(workdir / f"{name}-{time.time_ns()}-ledger.sqlite"),
            },
        )
        emulator_cpu = emulator.cpu_seconds()
        run = run_one(name, CONTENDERS[name](config), workdir, stdin=source).check()
        emulator_cpu = emulator.cpu_seconds() - emulator_cpu
        stored = emulator.stored_events(DEST_KEYS[0])
    return Sample(records, run.wall_s, run.peak_rss_mb, run.cpu_s, stored, emulator_cpu)


def bench_size(
    events: int,
    rounds: int,
    window: ExportWindow,
    names: Sequence[str],
    workdir: Path,
    given_input: Path | None = None,
) -> SizeResult:
    print(f"\n== {events:,} events ==", flush=True)
    if given_input is not None:
        source, records = given_input, count_records(given_input)
        print(f"  input {source}: {records:,} RECORD messages", flush=True)
    else:
        source, records = build_input(events, window, workdir)
    contenders = [(n, functools.partial(measure, n, source, records, workdir)) for n in names]
    return SizeResult(events, run_rounds(contenders, rounds))


def report(results: Sequence[SizeResult]) -> None:
    print("\n== target-amplitude vs official SDK vs floor (medians) ==")
    rows = []
    for result in results:
        target = result.series.get("target-amplitude")
        for s in result.series.values():
            lowest_stored = min(x.stored or 0 for x in s.samples)
            versus = (
                f"{target.median_rate / s.median_rate:.2f}" if target and s is not target else ""
            )
            rows.append(
                [
                    f"{result.events:,}",
                    s.name,
                    f"{s.samples[0].records:,}",
                    f"{lowest_stored:,}",
                    f"{s.median_wall:.2f}",
                    f"{s.median_rate:,.0f}",
                    f"{s.median_cpu:.1f}",
                    f"{s.median_emulator_cpu or 0:.1f}",
                    f"{s.max_rss:.1f}",
                    versus,
                ]
            )
    print_table(
        ["events", "contender", "in", "stored (min)", "median s", "events/s", "CPU s",
         "emulator CPU s", "peak RSS MB", "target/this"],
        rows,
    )  # fmt: skip

    print("\n== goals ==")
    for result in results:
        series = result.series
        for s in series.values():
            lost = [x.records - (x.stored or 0) for x in s.samples]
            if any(lost):
                print(
                    f"  {result.events:>9,} events: {s.name} stored fewer than it was given"
                    f" (missing per round: {lost}): its speed does not count"
                )
        target = series.get("target-amplitude")
        if target is None:
            continue
        for name, goal in (
            ("amplitude-sdk", SDK_GOAL),
            ("floor", FLOOR_GOAL),
            ("floor-4", FLOOR4_GOAL),
        ):
            if name in series:
                ratio = target.median_rate / series[name].median_rate
                cpu = series[name].median_cpu / target.median_cpu
                print(f"  {result.events:>9,} events: target/{name} {ratio:.2f} >= {goal}: "
                      f"{verdict(ratio >= goal)} (CPU s {name}/target {cpu:.2f})")  # fmt: skip
        if result.events >= RSS_GOAL_AT:
            print(f"  {result.events:>9,} events: target peak RSS {target.max_rss:.1f} MB < "
                  f"{RSS_GOAL_MB:.0f} MB: {verdict(target.max_rss < RSS_GOAL_MB)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="target-amplitude vs the SDK vs the floor")
    parser.add_argument("--events", type=lambda v: [int(x) for x in v.split(",")],
                        default=[200_000, 1_000_000], help="comma-separated sizes")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hours", type=int, default=48, help="hours of generated data")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated subset of {', '.join(CONTENDERS)}")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 round")
    parser.add_argument("--input", type=Path, help="use this Singer file instead of a tap export")
    args = parser.parse_args()
    sizes, rounds = ([20_000], 1) if args.quick else (args.events, args.rounds)
    if args.input:
        sizes = [count_records(args.input)]
    names = [n for n in args.contenders.split(",") if n]
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    print(f"bench_target: {machine_line()}; sizes {sizes}, {rounds} round(s), {names}")
    window = ExportWindow(hours=args.hours)
    with scratch_dir("target") as tmp:
        results = [bench_size(n, rounds, window, names, Path(tmp), args.input) for n in sizes]
    report(results)


if __name__ == "__main__":
    main()
