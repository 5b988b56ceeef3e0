"""What every benchmark shares: the emulator as a separate process, measured child runs, tables.

Measurements come from ``os.wait4``, which returns the resource usage of exactly the waited-for
child (``ru_maxrss`` is that process's own peak resident set size), so a pipeline of two processes
reports each one's peak separately. Wall time is ``time.perf_counter`` around the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psutil
import requests

from benchmarks.rounds import round_order

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent

# The emulator's default projects (emulator/README.md, "Command line").
SOURCE_KEYS = ("key-std", "secret-std")  # Standard region, generated data
DEST_KEYS = ("key-eu", "secret-eu")  # EU region, empty: the write side of target and pipe runs
DEFAULT_START = "2026-01-01T00"

EMULATOR_START_TIMEOUT_S = 1800.0  # generating 1,000,000 events takes a while


def tool(name: str) -> str:
    """Path of a console script installed in the running venv (tap-amplitude, target-amplitude)."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


# The working tree's packages, installed editable (so not compiled by uv), and the benchmarks'
# own floors and servers.
WORKING_TREE_PACKAGES = (
    "tap-amplitude/tap_amplitude",
    "target-amplitude/target_amplitude",
    "emulator/amplitude_emulator",
    "benchmarks",
)


def compile_working_tree() -> None:
    """Compile the working tree to bytecode, as every baseline is (``baseline.py``) and as a
    user's install is. The working tree is installed editable and this machine sets
    PYTHONDONTWRITEBYTECODE, so each run would otherwise compile the plugin's modules at its
    start: about 0.08 s of CPU a run of target-amplitude, counted against the working tree only
    (at 60,000 events, 6% of its time: the goal's margin). Every benchmark calls it first."""
    for folder in WORKING_TREE_PACKAGES:
        subprocess.run([PYTHON, "-m", "compileall", "-q", folder], check=True, cwd=REPO_ROOT)


def write_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- export windows


@dataclass(frozen=True)
class ExportWindow:
    """The hours the emulator generated data for; one window covering all of them."""

    start_hour: str = DEFAULT_START  # YYYY-MM-DDTHH
    hours: int = 48

    @property
    def start(self) -> datetime:
        return datetime.strptime(self.start_hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive end: the first hour after the data."""
        return self.start + timedelta(hours=self.hours)

    def export_params(self) -> dict[str, str]:
        """Query of GET /api/2/export: both hours inclusive."""
        last = self.end - timedelta(hours=1)
        return {"start": self.start.strftime("%Y%m%dT%H"), "end": last.strftime("%Y%m%dT%H")}

    def tap_settings(self) -> dict[str, Any]:
        """tap-amplitude settings reading exactly this window, in one export request."""
        return {
            "start_date": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_date": self.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "request_time_range": self.hours,
        }


# ----------------------------------------------------------------------------- the emulator


@dataclass
class RunningEmulator:
    url: str  # Standard region base; EU base is url + "/eu"
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU the emulator process has used so far."""
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    @property
    def eu_url(self) -> str:
        return f"{self.url}/eu"

    def state(self) -> dict[str, Any]:
        """GET /_emulator/state without the stored events: projects and counts."""
        response = requests.get(f"{self.url}/_emulator/state", params={"events": "0"}, timeout=600)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stored_events(self, api_key: str) -> int:
        """Number of events the project of ``api_key`` accepted through /batch or /2/httpapi."""
        return stored_event_count(self.state(), api_key)


def stored_event_count(state: Mapping[str, Any], api_key: str) -> int:
    """The ingested-event count of one project in the emulator's state document."""
    for project in state["projects"]:
        if project.get("api_key") == api_key:
            return int(project["ingested_count"])
    raise KeyError(f"no project with api_key {api_key!r} in the emulator state")


@contextlib.contextmanager
def running_emulator(
    events: int,
    workdir: Path,
    *,
    window: ExportWindow | None = None,
    seed: int = 7,
    users: int | None = None,
    warm_up: bool = True,
    export_delay: float = 0.0,
) -> Iterator[RunningEmulator]:
    """Start ``python -m amplitude_emulator serve`` as a separate process; stop it on exit.

    With ``warm_up`` one full export of the generated window is downloaded and discarded first, so
    every contender finds the emulator's caches built. ``export_delay``: every export request
    waits this many seconds before its answer (the latency scenario).
    """
    window = window or ExportWindow()
    url_file = workdir / f"emulator-url-{time.monotonic_ns()}.txt"
    log_path = url_file.with_suffix(".log")
    cmd = [
        PYTHON, "-m", "amplitude_emulator", "serve", "--port", "0",
        "--events", str(events), "--hours", str(window.hours), "--start", window.start_hour,
        "--seed", str(seed), "--url-file", str(url_file),
        "--no-record-bodies",  # the request log would otherwise hold every body in memory
    ]  # fmt: skip
    if users is not None:
        cmd += ["--users", str(users)]
    if export_delay:
        cmd += ["--export-delay", str(export_delay)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = _wait_for_url(process, url_file, log_path)
        emulator = RunningEmulator(url=url, process=process, log_path=log_path)
        if warm_up and events:
            download_export(emulator.url, SOURCE_KEYS, window, Path(os.devnull))
        yield emulator
    finally:
        _stop(process)


def _wait_for_url(process: subprocess.Popen[bytes], url_file: Path, log_path: Path) -> str:
    deadline = time.monotonic() + EMULATOR_START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = url_file.read_text(encoding="utf-8").strip() if url_file.exists() else ""
        if text:
            return text.removeprefix("EMULATOR_URL=").strip()
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the emulator exited with {process.returncode}:\n{tail}")
        time.sleep(0.1)
    raise TimeoutError(f"the emulator did not publish its URL in {EMULATOR_START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def download_export(
    base_url: str, keys: tuple[str, str], window: ExportWindow, destination: Path
) -> int:
    """Stream one export response to ``destination``; return its size in bytes."""
    size = 0
    with (
        requests.get(
            f"{base_url}/api/2/export",
            params=window.export_params(),
            auth=keys,
            stream=True,
            timeout=(10, 600),
        ) as response,
        destination.open("wb") as out,
    ):
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 20):
            out.write(chunk)
            size += len(chunk)
    return size


# ----------------------------------------------------------------------------- other servers


@dataclass
class RunningServer:
    """A benchmark server (:mod:`benchmarks.null_ingest`, :mod:`benchmarks.export_server`) in its
    own process."""

    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def null_stats(self) -> dict[str, int]:
        """The null ingest server's totals: requests, events, bytes."""
        response = requests.get(f"{self.url}/_null/stats", timeout=60)
        response.raise_for_status()
        result: dict[str, int] = response.json()
        return result


@contextlib.contextmanager
def running_server(module: str, args: Sequence[str], workdir: Path) -> Iterator[RunningServer]:
    """Start ``python -m <module> <args> --url-file F``; stop it on exit."""
    url_file = workdir / f"{module.rsplit('.', 1)[-1]}-url-{time.monotonic_ns()}.txt"
    log_path = url_file.with_suffix(".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", module, *args, "--url-file", str(url_file)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield RunningServer(_wait_for_url(process, url_file, log_path), process)
    finally:
        _stop(process)


# ----------------------------------------------------------------------------- tap catalog


def write_tap_config(workdir: Path, emulator: RunningEmulator, window: ExportWindow) -> Path:
    """tap-amplitude's config for the emulator's generated (source) project over ``window``."""
    return write_json(
        workdir / "tap-config.json",
        {
            "api_key": SOURCE_KEYS[0],
            "secret_key": SOURCE_KEYS[1],
            "api_url": emulator.url,
            **window.tap_settings(),
        },
    )


def events_only_catalog(tap_config: Path, destination: Path) -> Path:
    """Run ``tap-amplitude --discover`` and select the events stream only."""
    discovered = subprocess.run(
        [tool("tap-amplitude"), "--config", str(tap_config), "--discover"],
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
    return write_json(destination, select_streams(json.loads(discovered.stdout), {"events"}))


def select_streams(catalog: Mapping[str, Any], selected: set[str]) -> dict[str, Any]:
    """A copy of ``catalog`` in which exactly the streams named in ``selected`` are selected."""
    streams = []
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] in selected
        metadata = [dict(entry, metadata=dict(entry["metadata"])) for entry in stream["metadata"]]
        for entry in metadata:
            if not entry.get("breadcrumb"):
                entry["metadata"]["selected"] = chosen
        if not any(not entry.get("breadcrumb") for entry in metadata):
            metadata.append({"breadcrumb": [], "metadata": {"selected": chosen}})
        streams.append(dict(stream, metadata=metadata))
    return dict(catalog, streams=streams)


# ----------------------------------------------------------------------------- measured runs


@dataclass(frozen=True)
class ProcessRun:
    """One child process: its exit code, wall time and own peak RSS."""

    name: str
    returncode: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float  # user + system CPU time of the process itself
    stderr_path: Path

    def stderr_tail(self, chars: int = 3000) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def check(self) -> ProcessRun:
        if self.returncode != 0:
            raise RuntimeError(
                f"{self.name} exited with {self.returncode}; end of its stderr:\n"
                f"{self.stderr_tail()}"
            )
        return self


def run_pipeline(
    commands: Sequence[tuple[str, Sequence[str]]],
    workdir: Path,
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
    stdout_consumer: Callable[[IO[bytes]], None] | None = None,
) -> tuple[float, list[ProcessRun]]:
    """Run ``name, argv`` pairs as a shell-style pipeline; measure each process.

    The first reads ``stdin`` (or nothing); the last writes to ``stdout`` (default /dev/null), or
    to a pipe handed to ``stdout_consumer`` in this process (e.g. to count records). Returns the
    whole pipeline's wall time and one ProcessRun per command.
    """
    with contextlib.ExitStack() as stack:
        source: Any = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        last_out: Any
        if stdout_consumer is not None:
            last_out = subprocess.PIPE
        else:
            last_out = stack.enter_context((stdout or Path(os.devnull)).open("wb"))
        processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        started = time.perf_counter()
        for index, (name, argv) in enumerate(commands):
            is_last = index == len(commands) - 1
            err_path = workdir / f"{name}-{time.monotonic_ns()}.stderr"
            err = stack.enter_context(err_path.open("wb"))
            process = subprocess.Popen(
                list(argv),
                stdin=source,
                stdout=last_out if is_last else subprocess.PIPE,
                stderr=err,
                cwd=REPO_ROOT,
            )
            if processes and processes[-1][1].stdout is not None:
                processes[-1][1].stdout.close()  # the next process owns the read end now
            processes.append((name, process, err_path))
            source = process.stdout
        if stdout_consumer is not None:
            consumed = processes[-1][1].stdout
            assert consumed is not None
            stdout_consumer(consumed)
            consumed.close()
        try:
            runs = [
                _wait(name, process, err_path, started) for name, process, err_path in processes
            ]
        except BaseException:  # e.g. the benchmark stopped: its children stop too
            for _, process, _ in processes:
                if process.poll() is None:
                    process.kill()
            raise
        return time.perf_counter() - started, runs


def _wait(
    name: str, process: subprocess.Popen[bytes], err_path: Path, started: float
) -> ProcessRun:
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return ProcessRun(name, process.returncode, wall, usage.ru_maxrss / 1024, cpu, err_path)


def run_one(
    name: str,
    argv: Sequence[str],
    workdir: Path,
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
) -> ProcessRun:
    """Run one measured child with stdin/stdout wired to files (stdout default /dev/null)."""
    _, runs = run_pipeline([(name, argv)], workdir, stdin=stdin, stdout=stdout)
    return runs[0]


def count_record_lines(stream: IO[bytes], counter: dict[str, int]) -> None:
    """Consume Singer output, counting RECORD messages (``counter['records']``) and others."""
    records = other = 0
    for line in stream:
        head = line[:64]
        if b'"RECORD"' in head:
            records += 1
        elif line.strip():
            other += 1
    counter["records"] = records
    counter["other"] = other


# ----------------------------------------------------------------------------- rounds, tables


@dataclass
class Sample:
    """One round of one contender."""

    records: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    stored: int | None = None  # what the emulator holds afterwards, where that applies
    emulator_cpu_s: float | None = None  # CPU the emulator spent serving this run

    @property
    def per_second(self) -> float:
        return self.records / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        """Events a second, round by round."""
        return [s.per_second for s in self.samples]

    @property
    def median_rate(self) -> float:
        return statistics.median(s.per_second for s in self.samples)

    @property
    def median_wall(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def max_rss(self) -> float:
        return max(s.peak_rss_mb for s in self.samples)

    @property
    def wall_range(self) -> str:
        """Fastest and slowest round, e.g. ``3.21-3.90``."""
        walls = [s.wall_s for s in self.samples]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    @property
    def median_cpu(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def median_emulator_cpu(self) -> float | None:
        values = [s.emulator_cpu_s for s in self.samples if s.emulator_cpu_s is not None]
        return statistics.median(values) if values else None


def run_rounds(
    contenders: Sequence[tuple[str, Callable[[], Sample]]], rounds: int
) -> dict[str, Series]:
    """Interleave contenders (A B C, C B A, ...: round_order) so drifting machine load hits
    all alike."""
    series = {name: Series(name) for name, _ in contenders}
    for round_number in range(1, rounds + 1):
        for name, run in round_order(contenders, round_number):
            sample = run()
            series[name].samples.append(sample)
            stored = "" if sample.stored is None else f", arrived {sample.stored:,}"
            if sample.emulator_cpu_s is not None:
                stored += f", server CPU {sample.emulator_cpu_s:.1f} s"
            print(
                f"  round {round_number} {name:<18} {sample.records:>10,} records "
                f"{sample.wall_s:8.2f} s {sample.per_second:>10,.0f}/s "
                f"CPU {sample.cpu_s:6.1f} s peak RSS {sample.peak_rss_mb:6.1f} MB{stored}",
                flush=True,
            )
    return series


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join("-" * width for width in widths)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(_align(str(c), w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def _align(cell: str, width: int) -> str:
    """Figures right-aligned, names left-aligned."""
    numeric = cell.replace(",", "").replace(".", "").replace("-", "").replace("+", "").isdigit()
    return cell.rjust(width) if numeric else cell.ljust(width)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary working folder for configs, catalogs and stderr logs of one benchmark."""
    return tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-")


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so the servers and emulators started stop with the benchmark."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def machine_line() -> str:
    cpus = os.cpu_count()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpus} CPUs, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
