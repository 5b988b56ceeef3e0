"""Target benchmark: target-amplitude vs the target floor and previous versions.

    python -m benchmarks.bench_target                   # 60,000, 300,000, 1,000,000 events
    python -m benchmarks.bench_target --quick           # 20,000 events, 1 round: a smoke run
    python -m benchmarks.bench_target --events 300000 --shapes full --servers null --rounds 5
    python -m benchmarks.bench_target --baseline e614379    # A/B: make bench-target BASELINE=...

Every contender runs against two servers, each in its own process: the null ingest server
(:mod:`benchmarks.null_ingest`: reads the request, answers Amplitude's 200 body; the ratios of
the goals are taken against it) and, as a second "realistic server" column, a fresh emulator
process per run (its empty EU project; its own request handling caps every contender, issue 23).
The input, N export-shaped event records of one shape (:mod:`benchmarks.export_shapes`, timestamps
in RFC 3339 as the tap writes them), is generated once per size and shape and cached under
benchmarks/.cache/. Afterwards the null server's event count (and the emulator's stored count)
must equal the records given: a contender that loses events is reported, not praised.
Contenders: target-amplitude (a fresh sync ledger each run, events' default ``create_only``),
``no-ledger`` (the same working tree with ``sync_mode: all``: the ledger not consulted; against
the null server only), ``ledger-kept`` (the same working tree on a copy of a ledger that already
holds as many other events' keys as the input has, as a daily run finds it:
:mod:`benchmarks.kept_ledger`; null server only), each ``--baseline`` ref's target-amplitude,
the floor on 4 connections (``floor-4``, as many as target-amplitude's default
``max_concurrent_requests``); on request the floor on one connection (``floor``) and the
official SDK (``amplitude-sdk``).
Goals (issue 23): target >= 0.8x the 4-connection floor's events/s against the null server at
300,000 and 1,000,000 events, >= 0.7x at 60,000 (start-up counts); peak RSS < 200 MB; the sync
ledger costs at most 10% of the throughput on new rows (1 - target / no-ledger events/s; and
1 - ledger-kept / no-ledger, the same rows new to a kept ledger);
(issue 6) target >= 1.5x the SDK's events/s.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from benchmarks import baseline, export_shapes, kept_ledger
from benchmarks.baseline import Baseline
from benchmarks.common import (
    DEST_KEYS,
    PYTHON,
    REPO_ROOT,
    RunningServer,
    Sample,
    Series,
    compile_working_tree,
    machine_line,
    print_table,
    run_one,
    run_rounds,
    running_emulator,
    running_server,
    scratch_dir,
    stop_cleanly_on_sigterm,
    tool,
    verdict,
    write_json,
)
from benchmarks.rounds import paired_ratio

CACHE_DIR = REPO_ROOT / "benchmarks" / ".cache"
EVENTS_SCHEMA = REPO_ROOT / "tap-amplitude" / "tap_amplitude" / "schemas" / "events.json"
SDK_GOAL = 1.5
FLOOR4_GOALS = {60_000: 0.7}  # events -> goal; every other size: FLOOR4_GOAL
FLOOR4_GOAL = 0.8
RSS_GOAL_MB = 200.0
LEDGER_COST_GOAL = 0.10  # the sync ledger's share of the throughput on new rows (issue 23)
SERVERS = ("null", "emulator")
TARGET = "target-amplitude"
FLOOR4 = "floor-4"
# The working tree's target with the sync ledger not consulted (sync_mode all, docs/ledger.md):
# against it, target-amplitude's "ledger cost". The null server only: its goal is taken there.
NO_LEDGER = "no-ledger"
# The working tree's target on a copy of a ledger holding as many other keys as the input has
# (kept_ledger): the same rows, new to a ledger a daily run finds. The null server only.
LEDGER_KEPT = "ledger-kept"
NULL_ONLY = {NO_LEDGER, LEDGER_KEPT}

Command = Callable[[Path], list[str]]
OTHER_CONTENDERS: dict[str, Command] = {
    FLOOR4: lambda config: [PYTHON, "-m", "benchmarks.target_floor", "--config", str(config),
                            "--connections", "4"],
    NO_LEDGER: lambda config: [tool(TARGET), "--config", str(config)],
    LEDGER_KEPT: lambda config: [tool(TARGET), "--config", str(config)],
    "floor": lambda config: [PYTHON, "-m", "benchmarks.target_floor", "--config", str(config)],
    "amplitude-sdk": lambda config: [PYTHON, "-m", "benchmarks.sdk_loader", "--config",
                                     str(config)],
}  # fmt: skip


@dataclass(frozen=True)
class CaseResult:
    events: int
    shape: str
    series: dict[tuple[str, str], Series]  # (server, contender) -> rounds


def count_records(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if b'"RECORD"' in line[:64])


def build_input(shape: str, events: int) -> tuple[Path, int]:
    """The Singer input: the tap's SCHEMA of ``events``, then ``events`` RECORDs of the shape
    with their timestamps in RFC 3339 (as tap-amplitude writes them), then a STATE; cached."""
    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"target-input-{shape}-{events}-v{export_shapes.DATA_VERSION}.singer"
    if not path.exists():
        print(f"  making the input: {events:,} {shape} events", flush=True)
        export = export_shapes.Export(shape, events, CACHE_DIR / "unused")
        encode = msgspec.json.Encoder().encode
        schema = json.loads(EVENTS_SCHEMA.read_text(encoding="utf-8"))
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            out.write(encode({"type": "SCHEMA", "stream": "events", "schema": schema,
                              "key_properties": ["uuid"],
                              "bookmark_properties": ["server_upload_time"]}) + b"\n")  # fmt: skip
            for hour in range(export_shapes.HOURS):
                for record in export.records(hour):
                    for field in export_shapes.TIMESTAMP_FIELDS:
                        if (value := record.get(field)) is not None:
                            record[field] = value.replace(" ", "T") + "Z"
                    message = {"type": "RECORD", "stream": "events", "record": record,
                               "time_extracted": "2026-01-02T03:00:00.000000Z"}  # fmt: skip
                    out.write(encode(message))
                    out.write(b"\n")
            out.write(encode({"type": "STATE", "value": {"bookmarks": {"events": {
                "replication_key": "server_upload_time",
                "replication_key_value": "2026-01-02T00:00:00.000000Z"}}}}) + b"\n")  # fmt: skip
        partial.rename(path)
    return path, events


def input_streams(path: Path) -> list[str]:
    """The streams the input's SCHEMA messages name (the no-ledger contender maps each)."""
    streams: dict[str, None] = {}
    with path.open("rb") as lines:
        for line in lines:
            if b'"SCHEMA"' in line[:64]:
                streams[json.loads(line)["stream"]] = None
    return list(streams)


def contender_config(name: str, streams: Sequence[str]) -> dict[str, object]:
    """What a contender's config adds: no-ledger maps each stream (Amplitude-shaped events)
    with sync_mode all, so the ledger is neither read nor written."""
    if name != NO_LEDGER:
        return {}
    return {"stream_mappings": {s: {"object": "event", "sync_mode": "all"} for s in streams}}


def contender_commands(names: Sequence[str], baselines: Sequence[Baseline]) -> dict[str, Command]:
    commands: dict[str, Command] = {}
    for name in names:
        if name == TARGET:
            commands[TARGET] = lambda config: [tool(TARGET), "--config", str(config)]
        else:
            commands[name] = OTHER_CONTENDERS[name]
    for previous in baselines:
        executable = previous.tool(TARGET)
        commands[f"baseline {previous.label}"] = lambda config, e=executable: [  # type: ignore[misc]
            e, "--config", str(config)
        ]  # fmt: skip
    return commands


def _config(workdir: Path, name: str, api_url: str, extra: dict[str, object] | None = None) -> Path:
    slug = name.replace(" ", "-").replace("(", "").replace(")", "")
    return write_json(
        workdir / f"{slug}-config.json",
        {
            "api_key": DEST_KEYS[0],
            "api_url": api_url,
            "rejected_records_path": str(workdir / f"{slug}-rejected.jsonl"),
            # Every run a first run: a fresh sync ledger (a kept one would send nothing).
            "ledger_path": str(workdir / f"{slug}-{time.time_ns()}-ledger.sqlite"),
            **(extra or {}),
        },
    )


def measure_null(
    name: str,
    command: Command,
    source: Path,
    records: int,
    null: RunningServer,
    workdir: Path,
    extra: dict[str, object] | None = None,
    kept: kept_ledger.KeptLedger | None = None,
) -> Sample:
    """One run against the null ingest server; its event count and CPU for this run. With
    ``kept``, the run's ledger is a copy of that one (made before the clock starts)."""
    config = _config(workdir, name, null.url, extra)
    copy = Path(json.loads(config.read_text(encoding="utf-8"))["ledger_path"])
    if kept is not None:
        kept.copy_to(copy)
    before, server_cpu = null.null_stats()["events"], null.cpu_seconds()
    run = run_one(name, command(config), workdir, stdin=source).check()
    if kept is not None:
        kept.check_used(copy)
    received = null.null_stats()["events"] - before
    server_cpu = null.cpu_seconds() - server_cpu
    return Sample(records, run.wall_s, run.peak_rss_mb, run.cpu_s, received, server_cpu)


def measure_emulator(
    name: str,
    command: Command,
    source: Path,
    records: int,
    workdir: Path,
    extra: dict[str, object] | None = None,
) -> Sample:
    """One run into a fresh emulator process; the emulator's stored count afterwards."""
    with running_emulator(0, workdir, warm_up=False) as emulator:
        config = _config(workdir, name, emulator.eu_url, extra)
        emulator_cpu = emulator.cpu_seconds()
        run = run_one(name, command(config), workdir, stdin=source).check()
        emulator_cpu = emulator.cpu_seconds() - emulator_cpu
        stored = emulator.stored_events(DEST_KEYS[0])
    return Sample(records, run.wall_s, run.peak_rss_mb, run.cpu_s, stored, emulator_cpu)


def bench_case(
    events: int,
    shape: str,
    rounds: int,
    commands: dict[str, Command],
    servers: Sequence[str],
    workdir: Path,
    given_input: Path | None = None,
) -> CaseResult:
    if given_input is not None:
        source, records = given_input, count_records(given_input)
    else:
        source, records = build_input(shape, events)
    print(f"\n== {records:,} events, shape {shape}, servers {', '.join(servers)} ==", flush=True)
    streams = input_streams(source) if given_input is not None else ["events"]
    with running_server("benchmarks.null_ingest", [], workdir) as null:
        kept = None
        if LEDGER_KEPT in commands and "null" in servers:
            print(f"  making a ledger holding {records:,} other keys ({LEDGER_KEPT})", flush=True)
            kept = kept_ledger.make_kept_ledger(  # a new one each case
                _config(workdir, LEDGER_KEPT, null.url), workdir / "kept-ledger.sqlite", streams,
                records,
            )  # fmt: skip
        contenders = []
        for server in servers:
            for name, command in commands.items():
                if server != "null" and name in NULL_ONLY:
                    continue
                extra = contender_config(name, streams)
                run: Callable[[], Sample] = (
                    functools.partial(measure_null, name, command, source, records, null, workdir,
                                      extra, kept if name == LEDGER_KEPT else None)
                    if server == "null"
                    else functools.partial(measure_emulator, name, command, source, records,
                                           workdir, extra)
                )  # fmt: skip
                contenders.append((f"{server}|{name}", run))
        by_label = run_rounds(contenders, rounds)
        if kept is not None:
            kept.remove()
    series = {(label.split("|", 1)[0], label.split("|", 1)[1]): s for label, s in by_label.items()}
    return CaseResult(records, shape, series)


def report(results: Sequence[CaseResult], servers: Sequence[str], baselines: Sequence[str]) -> None:
    print("\n== target-amplitude vs floor-4 and BASELINE (medians; range = fastest-slowest) ==")
    print("   null: the null ingest server (the goals' ratios); emulator: the realistic server")
    rows = []
    for result in results:
        names = list(dict.fromkeys(name for _, name in result.series))
        for name in names:
            row = [f"{result.events:,}", result.shape, name]
            for server in servers:
                if (server, name) not in result.series:  # a null-only contender
                    row += [""] * 8
                    continue
                s = result.series[(server, name)]
                target = result.series[(server, TARGET)]
                floor = result.series.get((server, FLOOR4))
                lost = [x.records - (x.stored or 0) for x in s.samples]
                row += [
                    f"{s.median_wall:.2f}",
                    s.wall_range,
                    f"{s.median_rate:,.0f}",
                    f"{s.median_cpu:.1f}",
                    f"{s.median_emulator_cpu or 0:.1f}",
                    f"{s.max_rss:.1f}",
                    f"{s.median_rate / floor.median_rate:.2f}" if floor and s is not floor else "",
                    "LOST " + str(max(lost)) if any(lost) else "ok",
                ]
                if server == "null":
                    row += [
                        f"{target.median_rate / result.series[(server, b)].median_rate:.2f}"
                        if s is target else ""
                        for b in baselines
                    ]  # fmt: skip
            rows.append(row)
    headers = ["events", "shape", "contender"]
    for server in servers:
        headers += [f"{server} s", "range s", "events/s", "CPU s", "server CPU s", "RSS MB",
                    "/floor-4", "received"]  # fmt: skip
        if server == "null":
            headers += [f"BASELINE {b.removeprefix('baseline ')}" for b in baselines]
    print_table(headers, rows)

    print("\n== goals (issue 23; ratios against the null ingest server) ==")
    for result in results:
        case = f"{result.events:>9,} {result.shape:<5}"
        for (server, name), ran in result.series.items():
            lost = [x.records - (x.stored or 0) for x in ran.samples]
            if any(lost):
                print(f"  {case}: {name} on {server}: fewer events arrived than it was given "
                      f"(missing per round: {lost}): its speed does not count")  # fmt: skip
        goal_target = result.series.get(("null", TARGET))
        if goal_target is None:
            continue
        goal = FLOOR4_GOALS.get(result.events, FLOOR4_GOAL)
        for name, wanted in ((FLOOR4, goal), ("amplitude-sdk", SDK_GOAL), ("floor", None)):
            other = result.series.get(("null", name))
            if other is None:
                continue
            ratio = goal_target.median_rate / other.median_rate
            cpu = other.median_cpu / goal_target.median_cpu
            judged = f" >= {wanted}: {verdict(ratio >= wanted)}" if wanted else ""
            paired = paired_ratio(goal_target.rates, other.rates)
            print(f"  {case}: target/{name} {ratio:.2f}{judged} (round by round {paired:.2f}; "
                  f"CPU s {name}/target {cpu:.2f}; "
                  f"CPU per event: target {goal_target.median_cpu / result.events * 1e6:.1f} us, "
                  f"{name} {other.median_cpu / result.events * 1e6:.1f} us)")  # fmt: skip
        no_ledger = result.series.get(("null", NO_LEDGER))
        if no_ledger is not None:
            print(f"  {case}: {ledger_cost_line(goal_target, TARGET, no_ledger)}")
            kept = result.series.get(("null", LEDGER_KEPT))
            if kept is not None:
                print(f"  {case}: {ledger_cost_line(kept, LEDGER_KEPT, no_ledger)}")
        for b in baselines:
            ratio = goal_target.median_rate / result.series[("null", b)].median_rate
            paired = paired_ratio(goal_target.rates, result.series[("null", b)].rates)
            print(f"  {case}: target/{b.removeprefix('baseline ')} {ratio:.2f} "
                  f"(round by round {paired:.2f})")  # fmt: skip
        for name in (TARGET, LEDGER_KEPT):
            measured = result.series.get(("null", name))
            if measured is not None:
                short = "target" if name == TARGET else name
                rss = measured.max_rss
                print(f"  {case}: {short} peak RSS {rss:.1f} MB < {RSS_GOAL_MB:.0f} MB: "
                      f"{verdict(rss < RSS_GOAL_MB)}")  # fmt: skip


def ledger_cost_line(target: Series, name: str, no_ledger: Series) -> str:
    """The sync ledger's cost on new rows: the throughput the target (`name`: target-amplitude
    on a fresh ledger, ledger-kept on a kept one) loses to it (the goal), and its CPU (the
    steadier figure on a loaded machine)."""
    ratio = target.median_rate / no_ledger.median_rate
    cost = 1 - ratio
    paired = 1 - paired_ratio(target.rates, no_ledger.rates)
    cpu = target.median_cpu / no_ledger.median_cpu - 1
    per_event = [s.median_cpu / s.samples[0].records * 1e6 for s in (target, no_ledger)]
    what = "ledger cost" if name == TARGET else "ledger cost, kept ledger,"
    short = "target" if name == TARGET else name
    return (
        f"{what} 1 - {short}/{NO_LEDGER} events/s = {cost:.1%} <= {LEDGER_COST_GOAL:.0%}: "
        f"{verdict(cost <= LEDGER_COST_GOAL)} ({short}/{NO_LEDGER} {ratio:.2f}; "
        f"round by round {paired:.1%}; "
        f"events/s {short} {target.median_rate:,.0f}, {NO_LEDGER} {no_ledger.median_rate:,.0f}; "
        f"CPU {cpu:+.1%}: per event {short} {per_event[0]:.1f} us, "
        f"{NO_LEDGER} {per_event[1]:.1f} us)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="target-amplitude vs the floor, null server")
    parser.add_argument("--events", type=lambda v: [int(x) for x in v.split(",")],
                        default=[60_000, 300_000, 1_000_000],
                        help="comma-separated sizes")  # fmt: skip
    parser.add_argument(
        "--shapes",
        default=",".join(export_shapes.SHAPES),
        help=f"comma-separated shapes ({', '.join(export_shapes.SHAPES)})",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="null (the goals), emulator (the realistic column)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--contenders",
        default=f"{TARGET},{NO_LEDGER},{LEDGER_KEPT},{FLOOR4}",
        help=f"comma-separated subset of {TARGET}, {', '.join(OTHER_CONTENDERS)} "
        f"({NO_LEDGER}: this tree with sync_mode all, for the ledger's cost; {LEDGER_KEPT}: "
        "this tree on a ledger already holding as many other keys)",
    )
    parser.add_argument(
        "--baseline", default="", help="comma-separated git refs whose target runs alternately"
    )
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 round")
    parser.add_argument("--input", type=Path, help="use this Singer file instead of a shape")
    args = parser.parse_args()
    compile_working_tree()
    stop_cleanly_on_sigterm()
    sizes, rounds = ([20_000], 1) if args.quick else (args.events, args.rounds)
    shapes = [s for s in args.shapes.split(",") if s]
    servers = [s for s in args.servers.split(",") if s]
    names = [n for n in args.contenders.split(",") if n]
    if args.input:
        sizes, shapes = [count_records(args.input)], [args.input.name]
    unknown = (set(names) - {TARGET, *OTHER_CONTENDERS}) | (set(servers) - set(SERVERS))
    if unknown or TARGET not in names:
        parser.error(f"unknown contenders or servers {sorted(unknown)} ({TARGET} is required)")
    baselines = [baseline.prepare(ref) for ref in args.baseline.split(",") if ref]
    commands = contender_commands(names, baselines)
    print(f"bench_target: {machine_line()}; sizes {sizes}, shapes {shapes}, servers {servers}, "
          f"{rounds} round(s), contenders {list(commands)}")  # fmt: skip
    with scratch_dir("target") as tmp:
        results = [
            bench_case(n, shape, rounds, commands, servers, Path(tmp), args.input)
            for n in sizes
            for shape in shapes
        ]
    report(results, servers, [f"baseline {b.label}" for b in baselines])


if __name__ == "__main__":
    main()
