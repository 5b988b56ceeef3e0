"""Storage benchmark (issue 24): the events stream read from Amplitude's S3 export (export_source
storage) against the Export API path, on the same generated events, with each tap's peak RSS.

    python -m benchmarks.bench_storage                  # 1,000,000 events over 48 hours, 3 rounds
    python -m benchmarks.bench_storage --quick          # 20,000 events, 1 round: a smoke run
    python -m benchmarks.bench_storage --events 200000 --rounds 5

Contenders, each a `tap-amplitude` run of the events stream with output to /dev/null:
- ``api``: the Export API path against the emulator (``python -m amplitude_emulator serve``, its
  export cached by a warm-up download), one window of all hours (as bench_tap);
- ``storage-s3``: the same events written by ``python -m amplitude_emulator export-storage`` (one
  file per hour) and uploaded into a bucket of moto's S3 server (``moto[server]``, its own
  process, on loopback);
- ``storage-file``: the same files in a local directory (``file://``): the reader without a
  server, to show whether the S3 server is a bottleneck.

An untimed pass counts each contender's RECORD messages (they must agree); then the contenders run
alternately (api, s3, file, api, ...) so drifting load on a shared machine hits all alike, and
the medians are printed with the ratio to the API path. Goal: storage at least as fast (ratio
>= 1.0); peak RSS flat (the tap's own process, ``ru_maxrss`` from ``os.wait4``; the decompressing
worker process is a child of it on both paths).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import requests

from benchmarks.common import (
    PYTHON,
    REPO_ROOT,
    ExportWindow,
    Sample,
    compile_working_tree,
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

RATIO_GOAL = 1.0
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def write_export(url: str, events: int, window: ExportWindow, workdir: Path) -> None:
    """The emulator's generated project (same seed and spec as `serve`) written to ``url``."""
    log = workdir / f"export-storage-{url.split(':', 1)[0]}.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [PYTHON, "-m", "amplitude_emulator", "export-storage", "--url", url,
             "--events", str(events), "--hours", str(window.hours), "--start", window.start_hour],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"export-storage failed:\n{log.read_text()[-2000:]}")
    print(f"  wrote {url}: {log.read_text().strip().splitlines()[-1]}", flush=True)


def start_s3_server(workdir: Path) -> subprocess.Popen[bytes]:
    """moto's S3 server in a process of its own (its objects in its memory, not in this
    process: a child's peak RSS from ``os.wait4`` starts at its parent's size at fork)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (workdir / "moto.log").open("wb")
    server = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(url, timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    os.environ.update(S3_ENV, AWS_ENDPOINT_URL=url)
    return server


def upload(local: Path, destination: str) -> None:
    """Copy the written export into the S3 server (the same files, generated once)."""
    from s3fs import S3FileSystem  # noqa: PLC0415 - the tap's s3 extra, in the dev environment

    fs = S3FileSystem(skip_instance_cache=True)
    fs.mkdir(destination.split("/", 1)[0])
    files = sorted(path for path in local.rglob("*") if path.is_file())
    for path in files:
        fs.put_file(str(path), f"{destination}/{path.relative_to(local)}")
    print(f"  uploaded {len(files)} files to s3://{destination}", flush=True)


def bench(events: int, rounds: int, window: ExportWindow, workdir: Path, prefetch: int) -> None:
    print(f"\n== {events:,} events ({window.hours} hours from {window.start_hour}) ==", flush=True)
    server = start_s3_server(workdir)
    try:
        with running_emulator(events, workdir, window=window) as emulator:
            api_config = write_tap_config(workdir, emulator, window)
            catalog = events_only_catalog(api_config, workdir / "catalog.json")
            base = {
                **json.loads(api_config.read_text()),
                "export_source": "storage",
                "export_storage_prefetch_files": prefetch,
            }
            local = workdir / "local-export"
            write_export(f"file://{local}", events, window, workdir)
            upload(local, "bench-export/amplitude")
            configs = {
                "api": api_config,
                "storage-s3": write_json(
                    workdir / "s3.json",
                    {**base, "export_storage_url": "s3://bench-export/amplitude"},
                ),
                "storage-file": write_json(
                    workdir / "file.json", {**base, "export_storage_url": f"file://{local}"}
                ),
            }
            commands = {
                name: [tool("tap-amplitude"), "--config", str(path), "--catalog", str(catalog)]
                for name, path in configs.items()
            }
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
                print(f"  count pass {name:<14} {counter['records']:>10,} RECORD messages")
            if len(set(counted.values())) != 1:
                raise RuntimeError(f"the contenders disagree on the records: {counted}")

            def measure(name: str) -> Sample:
                _, runs = run_pipeline([(name, commands[name])], workdir)
                run = runs[0].check()
                return Sample(counted[name], run.wall_s, run.peak_rss_mb, run.cpu_s)

            series = run_rounds(
                [(name, functools.partial(measure, name)) for name in commands], rounds
            )
    finally:
        server.terminate()
        server.wait()
    api = series["api"]
    print(f"\n== storage vs Export API, {events:,} events (medians of {rounds} rounds) ==")
    rows = []
    for name, s in series.items():
        ratio = s.median_rate / api.median_rate
        rows.append(
            [name, f"{s.median_rate:,.0f}", f"{s.median_wall:.2f}", f"{s.median_cpu:.1f}",
             f"{s.max_rss:.1f}", f"{ratio:.2f}"]
        )  # fmt: skip
    print_table(["contender", "records/s", "wall s", "CPU s", "peak RSS MB", "x api"], rows)
    s3_ratio = series["storage-s3"].median_rate / api.median_rate
    print(
        f"\ngoal storage-s3 >= {RATIO_GOAL:.1f} x api: {s3_ratio:.2f} "
        f"({verdict(s3_ratio >= RATIO_GOAL)})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="storage export path vs Export API path")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hours", type=int, default=48, help="hours of generated data")
    parser.add_argument("--prefetch-files", type=int, default=4,
                        help="export_storage_prefetch_files of the storage contenders")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 round")
    args = parser.parse_args()
    compile_working_tree()
    events, rounds = (20_000, 1) if args.quick else (args.events, args.rounds)
    print(f"bench_storage: {machine_line()}; {events:,} events, {rounds} round(s)")
    with scratch_dir("storage") as tmp:
        bench(events, rounds, ExportWindow(hours=args.hours), Path(tmp), args.prefetch_files)


if __name__ == "__main__":
    main()
