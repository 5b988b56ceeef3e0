"""The one-command demo (`make demo`): both plugins, through Meltano, on the local emulator.

1. starts the Amplitude emulator with a realistic generated project (two days of events);
2. `meltano run tap-amplitude target-jsonl`: the built-in streams into JSON-lines files;
3. shows the state Meltano saved, runs the same command again: the second run is incremental;
4. starts PostgreSQL with a small warehouse model (users, accounts, orders) and runs
   `meltano run tap-postgres target-amplitude`: profiles, groups and events into Amplitude;
5. prints what the emulator received and where the files are, stops everything, exits 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from demo.postgres import WAREHOUSE_SQL, PostgresUnavailableError, local_postgres

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
OUTPUT = DEMO / "output"
REJECTED = DEMO / "rejected-records.jsonl"
EXTRACT_JOB = ("tap-amplitude", "target-jsonl")
LOAD_JOB = ("tap-postgres", "target-amplitude")
DEMO_EVENTS = 20_000
DEMO_HOURS = 48


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text}")


def meltano_bin() -> str:
    local = ROOT / ".venv-meltano" / "bin" / "meltano"
    return str(local) if local.exists() else (shutil.which("meltano") or "meltano")


def meltano(env: dict[str, str], *args: str, quiet: bool = False) -> str:
    """Run meltano in the project; show its log on failure."""
    result = subprocess.run(
        [meltano_bin(), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        say(result.stdout[-4000:])
        say(result.stderr[-8000:])
        msg = f"`meltano {' '.join(args)}` failed with exit code {result.returncode}"
        raise SystemExit(msg)
    if not quiet:
        for line in result.stderr.splitlines():
            if any(k in line for k in ("events: window", "Summary ", "nothing to export")):
                say("   " + line.split("] ", 1)[-1].strip()[:200])
    return result.stdout


@contextlib.contextmanager
def emulator(start_hour: datetime) -> Iterator[str]:
    """The emulator as a separate process, like a real Amplitude: yields its URL."""
    url_file = DEMO / "emulator.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amplitude_emulator",
            "serve",
            "--port",
            "0",
            "--seed",
            "7",
            "--events",
            str(DEMO_EVENTS),
            "--hours",
            str(DEMO_HOURS),
            "--start",
            start_hour.strftime("%Y-%m-%dT%H"),
            "--users",
            "500",
            "--url-file",
            str(url_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first.startswith("EMULATOR_URL="):
            msg = f"the emulator did not start: {first!r}"
            raise SystemExit(msg)
        yield first.split("=", 1)[1]
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


def count_lines(folder: Path) -> dict[str, int]:
    return {
        path.stem: sum(1 for _ in path.open(encoding="utf-8"))
        for path in sorted(folder.glob("*.jsonl"))
    }


def emulator_state(url: str) -> dict[str, Any]:
    response = requests.get(f"{url}/_emulator/state", params={"events": "0"}, timeout=30)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def export_requests(url: str) -> list[str]:
    response = requests.get(f"{url}/_emulator/requests", timeout=30)
    response.raise_for_status()
    windows = []
    for request in response.json()["requests"]:
        if request["path"] == "/api/2/export":
            windows.append(f"{request['query'].get('start')}..{request['query'].get('end')}")
    return windows


def show_state(env: dict[str, str]) -> None:
    state_ids = meltano(env, "state", "list", quiet=True).split()
    for state_id in state_ids:
        if "tap-amplitude" not in state_id:
            continue
        state = json.loads(meltano(env, "state", "get", state_id, quiet=True))
        bookmarks = state.get("singer_state", {}).get("bookmarks", {})
        say(f"   state {state_id}:")
        for stream, bookmark in sorted(bookmarks.items()):
            say(f"     {stream}: {json.dumps(bookmark)[:160]}")


def main() -> int:
    began = time.monotonic()
    shutil.rmtree(DEMO, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start_hour = now - timedelta(hours=DEMO_HOURS)
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "emulator",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{DEMO / 'meltano.db'}",
        "DEMO_START_DATE": start_hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "DEMO_PG_PORT": "5432",
        "DEMO_PG_PASSWORD": "local-trust-auth",
    }

    heading("Installing the Meltano plugins (first run only takes a minute)")
    # Meltano installs plugins with `uv pip install`: compiled once here, each plugin process
    # starts in half the time when PYTHONDONTWRITEBYTECODE is set.
    meltano({**env, "UV_COMPILE_BYTECODE": "1"}, "install", quiet=True)
    say("   tap-amplitude, target-amplitude, tap-postgres, target-jsonl installed")

    with emulator(start_hour) as url:
        env["EMULATOR_URL"] = url
        say(f"   emulator: {url} ({DEMO_EVENTS:,} events over {DEMO_HOURS} hours)")

        heading("meltano run tap-amplitude target-jsonl  (first run: full history)")
        t0 = time.monotonic()
        meltano(env, "run", *EXTRACT_JOB)
        first = count_lines(OUTPUT)
        say(f"   done in {time.monotonic() - t0:.1f} s; records per stream:")
        for stream, n in first.items():
            say(f"     {stream:<24} {n:>7,}")
        pending = DEMO_EVENTS - first.get("events", 0)
        say(
            f"   the {pending:,} events of the last hours are not exported yet: Amplitude makes "
            "an hour exportable 2 hours after it ends, the tap waits 3 (export_lag_hours), "
            "a later run picks them up"
        )
        show_state(env)

        heading("meltano run tap-amplitude target-jsonl  (second run: incremental from state)")
        before = len(export_requests(url))
        t0 = time.monotonic()
        meltano(env, "run", *EXTRACT_JOB)
        second = count_lines(OUTPUT)
        windows = export_requests(url)[before:]
        say(f"   done in {time.monotonic() - t0:.1f} s; new records per stream:")
        for stream, n in second.items():
            say(f"     {stream:<24} {n - first.get(stream, 0):>7,}")
        say(f"   export windows requested this time: {', '.join(windows) or 'none'}")
        show_state(env)

        heading("meltano run tap-postgres target-amplitude  (a warehouse model into Amplitude)")
        try:
            with local_postgres() as pg:
                pg.load_file(WAREHOUSE_SQL)
                env["DEMO_PG_PORT"] = str(pg.port)
                say(f"   PostgreSQL on 127.0.0.1:{pg.port}, views analytics.amplitude_*")
                t0 = time.monotonic()
                meltano(env, "run", *LOAD_JOB)
                say(f"   done in {time.monotonic() - t0:.1f} s")
        except PostgresUnavailableError as exc:
            say(f"   skipped: {exc}")
        state = emulator_state(url)
        project = next(p for p in state["projects"] if p["api_key"] == "key-std")
        say("   what Amplitude (the emulator) now holds for the project:")
        say(f"     user profiles     {len(project['users']):>7,}")
        say(f"     groups            {len(project['groups']):>7,}")
        say(f"     events ingested   {project['ingested_count']:>7,}")
        if project["users"]:
            user_id, props = sorted(project["users"].items())[0]
            say(f"     e.g. user {user_id}: {json.dumps(props, default=str)[:200]}")
        if project["groups"]:
            say(f"     e.g. group {json.dumps(project['groups'][0], default=str)[:200]}")
        if REJECTED.exists():
            rejected = [json.loads(line) for line in REJECTED.open(encoding="utf-8")]
            say(f"   rejected records: {len(rejected)} in {REJECTED.relative_to(ROOT)}")
            for row in rejected[:3]:
                say(f"     {row['stream']}: {row['reason']}")

    heading("Files")
    say(f"   extracted streams:   {OUTPUT.relative_to(ROOT)}/*.jsonl")
    say(f"   rejected records:    {REJECTED.relative_to(ROOT)}")
    say(f"   Meltano state:       {(DEMO / 'meltano.db').relative_to(ROOT)}")
    say(f"\nDemo finished in {time.monotonic() - began:.0f} s; the emulator is stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
