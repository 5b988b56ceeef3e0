"""target-amplitude's per-record functions, the working tree against a git ref, in one process.

    python -m benchmarks.bench_mapping --baseline 8c351ae [--events 60000] [--rounds 3]

For each shape (the Singer inputs of bench_target, built and cached the same way), every record
goes through the sink's per-record steps: the SCHEMA check (schema_check.compile_record_check),
map_record, check_event, then ENCODER.encode and check_size. The baseline's mapping.py,
validation.py and schema_check.py are loaded from ``git show <ref>:...`` as separate modules,
so both versions run in the same process on the same decoded records, alternated per chunk of
500 records (which one goes first alternates too): both see the same machine load. The figure is
CPU time (``time.process_time``) per event, the median of the rounds, with the garbage collector
off while timing (the decoded records are frozen out of its generations), as the stages would
otherwise pay for collections the records' allocation triggers.

Before timing, every payload of both versions is encoded and compared byte for byte: a
difference stops the benchmark.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from target_amplitude import mapping, schema_check, validation
from target_amplitude.endpoints import events_endpoint
from target_amplitude.settings import passthrough_mapping

from benchmarks.bench_target import build_input
from benchmarks.common import REPO_ROOT, machine_line

MODULES = ("mapping", "validation", "schema_check")
STAGES = ("schema_check", "map_record", "check_event", "encode+check_size")
CHUNK = 500
Stage = Callable[[list[Any]], Any]


def load_baseline(ref: str) -> dict[str, types.ModuleType]:
    """The three modules as they are at `ref`, each executed as its own module."""
    modules = {}
    for name in MODULES:
        path = f"target-amplitude/target_amplitude/{name}.py"
        source = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "show", f"{ref}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        module = types.ModuleType(f"baseline_{name}")
        sys.modules[module.__name__] = module  # dataclasses and typing look modules up by name
        exec(compile(source, f"{ref}:{path}", "exec"), module.__dict__)
        modules[name] = module
    return modules


def read_input(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    decode = msgspec.json.Decoder().decode
    schema: dict[str, Any] = {}
    records = []
    with open(path, "rb") as lines:
        for line in lines:
            message = decode(line)
            if message["type"] == "SCHEMA":
                schema = message["schema"]
            elif message["type"] == "RECORD":
                records.append(message["record"])
    return schema, records


def stages(modules: dict[str, types.ModuleType], schema: dict[str, Any]) -> tuple[Stage, ...]:
    """The four steps of AmplitudeSink.take for a passthrough events stream, as functions."""
    stream = passthrough_mapping("events")
    endpoint = events_endpoint("batch")
    check = modules["schema_check"].compile_record_check(schema)
    map_record = modules["mapping"].map_record
    encode = modules["mapping"].ENCODER.encode
    check_event = modules["validation"].check_event
    check_size = modules["validation"].check_size

    def schema_stage(records: list[Any]) -> None:
        for record in records:
            check(record)

    def map_stage(records: list[Any]) -> list[Any]:
        return [map_record(stream, r, (), skip_user_properties_sync=False) for r in records]

    def event_stage(payloads: list[Any]) -> None:
        for payload in payloads:
            check_event(payload, None)

    def encode_stage(payloads: list[Any]) -> None:
        for payload in payloads:
            check_size(len(encode(payload)), endpoint.max_item_bytes, endpoint.path)

    return schema_stage, map_stage, event_stage, encode_stage


def same_payloads(contenders: dict[str, tuple[Stage, ...]], records: list[Any]) -> None:
    encoded = {
        name: [mapping.ENCODER.encode(p) for p in steps[1](records)]
        for name, steps in contenders.items()
    }
    first, *others = encoded.values()
    for other in others:
        if other != first:
            differing = next(i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a != b)
            msg = f"payloads differ, first at record {differing}"
            raise SystemExit(msg)


def time_round(
    contenders: dict[str, tuple[Stage, ...]], records: list[Any], round_number: int
) -> dict[tuple[str, str], float]:
    clock = time.process_time
    spent = dict.fromkeys(((name, stage) for name in contenders for stage in STAGES), 0.0)
    names = list(contenders)
    for start in range(0, len(records), CHUNK):
        part = records[start : start + CHUNK]
        flip = (start // CHUNK + round_number) % 2
        for name in names[::-1] if flip else names:
            schema_stage, map_stage, event_stage, encode_stage = contenders[name]
            t0 = clock()
            schema_stage(part)
            t1 = clock()
            payloads = map_stage(part)
            t2 = clock()
            event_stage(payloads)
            t3 = clock()
            encode_stage(payloads)
            t4 = clock()
            for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[(name, stage)] += seconds
    return spent


def bench_shape(
    shape: str, events: int, rounds: int, baseline: dict[str, types.ModuleType], label: str
) -> None:
    path, _ = build_input(shape, events)
    schema, records = read_input(str(path))
    current = {"mapping": mapping, "validation": validation, "schema_check": schema_check}
    contenders = {label: stages(baseline, schema), "working tree": stages(current, schema)}
    same_payloads(contenders, records)
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        results = [time_round(contenders, records, n) for n in range(rounds)]
    finally:
        gc.enable()
        gc.unfreeze()
    print(f"\n{shape}: {len(records):,} records, CPU microseconds per event, median of {rounds}")
    print(f"  {'stage':<18} {label:>14} {'working tree':>14}  speed-up")
    totals = dict.fromkeys(contenders, 0.0)
    for stage in STAGES:
        medians = {
            name: statistics.median(r[(name, stage)] for r in results) / len(records) * 1e6
            for name in contenders
        }
        for name, value in medians.items():
            totals[name] += value
        old, new = medians[label], medians["working tree"]
        print(f"  {stage:<18} {old:>14.2f} {new:>14.2f}  x{old / new:.2f}")
    old, new = totals[label], totals["working tree"]
    print(f"  {'total':<18} {old:>14.2f} {new:>14.2f}  x{old / new:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline", required=True, help="git ref to compare with")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--shapes", default="small,full")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"bench_mapping: {machine_line()}; baseline {args.baseline}")
    baseline = load_baseline(args.baseline)
    for shape in args.shapes.split(","):
        bench_shape(shape, args.events, args.rounds, baseline, f"baseline {args.baseline}")


if __name__ == "__main__":
    main()
