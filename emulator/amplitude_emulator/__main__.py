"""Command line: ``python -m amplitude_emulator serve ...`` and ``export-storage ...`` (see
README.md)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from amplitude_emulator import storage_export
from amplitude_emulator.emulator import Emulator
from amplitude_emulator.generator import GeneratorSpec

_PROJECT_KEYS = {
    "api_key",
    "secret_key",
    "region",
    "project_id",
    "cohorts_enabled",
    "country_group_by_ok",
    "annotations_v3",
    "partition_events",
    "zip_directory_entry",
    "export_lag_hours",
    "timezone",
    "taxonomy_enabled",
    "cohort_job_polls",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m amplitude_emulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator until SIGINT/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 = a free port")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--events", type=int, default=5000)
    serve.add_argument("--hours", type=int, default=48)
    serve.add_argument("--start", default="2026-01-01T00", help="first hour, 2026-01-01T00")
    serve.add_argument("--users", type=int, default=200)
    serve.add_argument("--config", type=Path, help="projects.json declaring the projects")
    serve.add_argument("--url-file", type=Path, help="also write EMULATOR_URL=... here")
    serve.add_argument("--clock", help="freeze the clock at this ISO time (default: real time)")
    serve.add_argument("--warm", action="store_true", help="build every export blob at start")
    serve.add_argument(
        "--export-lag",
        type=float,
        metavar="HOURS",
        help="model the Export API's loading delay for every project (an hour is 404 until it "
        "ends, partial while loading, complete HOURS after it ends; Amplitude documents 2). "
        "Default: off, every event is exportable at once",
    )
    serve.add_argument(
        "--export-delay",
        type=float,
        metavar="SECONDS",
        default=0.0,
        help="every export request waits SECONDS before its response (a test control for the "
        "time Amplitude takes to assemble an export; default 0)",
    )
    serve.add_argument(
        "--no-record-bodies", action="store_true", help="keep request bodies out of the log"
    )
    storage_export.add_parser(commands)
    return parser


def _project_from_config(item: dict[str, Any], default_spec: GeneratorSpec) -> dict[str, Any]:
    unknown = set(item) - _PROJECT_KEYS - {"generate"}
    if unknown:
        raise SystemExit(f"--config: unknown project setting(s) {sorted(unknown)}")
    if "api_key" not in item or "secret_key" not in item:
        raise SystemExit("--config: every project needs api_key and secret_key")
    project = {key: item[key] for key in _PROJECT_KEYS if key in item}
    generate = item.get("generate")
    if generate is True:
        project["spec"] = default_spec
    elif isinstance(generate, dict):
        project["spec"] = GeneratorSpec(**{**default_spec.__dict__, **generate})
    return project


def build(args: argparse.Namespace) -> Emulator:
    spec = GeneratorSpec(
        seed=args.seed, events=args.events, start=args.start, hours=args.hours, users=args.users
    )
    emulator = Emulator(host=args.host, port=args.port, record_bodies=not args.no_record_bodies)
    if args.config:
        config = json.loads(args.config.read_text())
        items = config["projects"] if isinstance(config, dict) else config
        for item in items:
            project = _project_from_config(item, spec)
            if args.export_lag is not None:
                project.setdefault("export_lag_hours", args.export_lag)
            emulator.add_project(**project)
        if isinstance(config, dict) and config.get("clock"):
            emulator.clock = datetime.fromisoformat(config["clock"].replace("Z", "+00:00"))
    else:
        lag = args.export_lag
        emulator.add_project(
            "key-std",
            "secret-std",
            region="standard",
            project_id=187520,
            spec=spec,
            export_lag_hours=lag,
        )
        emulator.add_project(
            "key-eu", "secret-eu", region="eu", project_id=287520, export_lag_hours=lag
        )
    if args.export_delay:
        emulator.faults.export_delay(args.export_delay)
    if args.clock:
        emulator.clock = datetime.fromisoformat(args.clock.replace("Z", "+00:00"))
    return emulator


def serve(args: argparse.Namespace) -> int:
    emulator = build(args)
    if args.warm:
        for project in emulator.projects:
            project.warm()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    line = f"EMULATOR_URL={emulator.base_url}"
    if args.url_file:
        args.url_file.write_text(line + "\n")
    print(line, flush=True)
    while not stop.wait(0.5):
        pass
    emulator.stop()
    print("emulator stopped", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export-storage":
        return storage_export.run(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
