"""Generator determinism, the inspection API and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from amplitude_emulator import Emulator, GeneratorSpec, RequestRecord
from amplitude_emulator.generator import GeneratedData

from tests.emulator_tests.helpers import batch, export, unzip_events

ROOT = Path(__file__).resolve().parents[2]


def test_generator_is_deterministic_and_counts_add_up() -> None:
    spec = GeneratorSpec(
        seed=11,
        events=3000,
        hours=30,
        users=50,
        late_fraction=0.2,
        countries=["Canada"],
        event_types=["A", "B"],
    )
    one, two = GeneratedData(spec, 1), GeneratedData(spec, 1)
    assert one.counts == two.counts
    assert sum(one.counts) == 3000
    hour = one.hours_with_data()[3]
    assert one.generate_hour(hour) == two.generate_hour(hour)
    other = GeneratedData(GeneratorSpec(seed=12, events=3000, hours=30, users=50), 1)
    assert other.generate_hour(hour)[0] != one.generate_hour(hour)[0]
    events = [json.loads(line) for h in one.hours_with_data() for line in one.generate_hour(h)[0]]
    assert {e["country"] for e in events} == {"Canada"}
    assert {e["event_type"] for e in events} == {
        "A",
        "B",
    }
    assert len({e["user_id"] or e["device_id"] for e in events}) <= 50
    assert 450 < sum(e["event_time"][:10] != e["server_upload_time"][:10] for e in events) < 800


def test_same_spec_serves_identical_exports(emulator_factory) -> None:
    bodies = [
        export(emulator_factory().base_url, "20260101T00", "20260101T23").content for _ in range(2)
    ]
    assert bodies[0] == bodies[1]


def test_request_log_records_what_was_asked(emulator: Emulator) -> None:
    export(emulator.base_url, "20260101T00", "20260101T01")
    batch(emulator.url("eu"), [{"event_type": "x", "device_id": "device-00001"}], api_key="key-eu")
    first, second = emulator.requests
    assert first.method == "GET"
    assert first.path == "/api/2/export"
    assert first.status == 200
    assert first.query == {"start": "20260101T00", "end": "20260101T01"}
    assert first.headers["Authorization"] == "<redacted>"
    assert first.project_id == 187520
    assert first.region == "standard"
    assert first.finished >= first.started
    assert second.region == "eu"
    assert second.path == "/batch"
    assert second.project_id == 287520
    assert json.loads(second.body)["events"][0]["device_id"] == "device-00001"
    assert emulator.requests_to("/batch") == [second]
    assert emulator.max_concurrency() == 1
    emulator.reset_requests()
    assert emulator.requests == []


def test_max_concurrency_counts_overlapping_requests_per_project() -> None:
    emu = Emulator()

    def record(path: str, start: float, end: float, project: int) -> None:
        emu._record(
            method="GET",
            path=path,
            region="standard",
            query={},
            headers={},
            body=b"",
            status=200,
            started=start,
            finished=end,
            project_id=project,
        )

    record("/api/2/export", 0.0, 3.0, 1)
    record("/api/2/export", 1.0, 2.0, 1)
    record("/api/2/users", 1.5, 4.0, 1)
    record("/api/2/export", 0.0, 9.0, 2)
    record("/batch", 0.0, 9.0, 1)
    assert emu.max_concurrency() == 3
    assert emu.max_concurrency("/api/2/export") == 2
    assert emu.max_concurrency("/batch") == 1
    assert isinstance(emu.requests[0], RequestRecord)


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    url_file = tmp_path / "url.txt"
    config = tmp_path / "projects.json"
    config.write_text(
        json.dumps(
            {
                "clock": "2026-01-03T00:00:00Z",
                "projects": [
                    {
                        "api_key": "cfg-key",
                        "secret_key": "cfg-secret",
                        "project_id": 42,
                        "generate": {"events": 300, "hours": 3},
                    },
                    {"api_key": "cfg-eu", "secret_key": "cfg-eu-secret", "region": "eu"},
                ],
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amplitude_emulator",
            "serve",
            "--config",
            str(config),
            "--url-file",
            str(url_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("EMULATOR_URL=http://127.0.0.1:")
        assert url_file.read_text().strip() == line
        base = line.split("=", 1)[1]
        names, events = unzip_events(
            export(base, "20260101T00", "20260101T02", auth=("cfg-key", "cfg-secret")).content
        )
        assert len(events) == 300
        assert names[0] == "42/"
        assert (
            batch(
                base + "/eu", [{"event_type": "x", "device_id": "device-00001"}], api_key="cfg-eu"
            ).status_code
            == 200
        )
        state = requests.get(base + "/_emulator/state", timeout=10).json()
        assert state["clock"] == "2026-01-03T00:00:00+00:00"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)  # waits, and closes the pipes
        assert process.returncode == 0


def test_cli_default_projects() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "amplitude_emulator", "serve", "--events", "100", "--hours", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip().split("=", 1)[1]
        assert len(unzip_events(export(base, "20260101T00", "20260101T01").content)[1]) == 100
        assert (
            export(
                base + "/eu", "20260101T00", "20260101T01", auth=("key-eu", "secret-eu")
            ).status_code
            == 404
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)  # waits, and closes the pipes
        assert process.returncode == 0


def test_cli_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    """The stdlib-only command line: `PYTHONPATH=emulator python -m amplitude_emulator serve
    --url-file FILE --events N` from the repository root, with no site-packages at all (-S), demo
    keys key-std / secret-std (in the dev environment the package is installed: no PYTHONPATH)."""
    url_file = tmp_path / "emulator.url"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "emulator")}
    command = [
        sys.executable,
        "-S",
        "-m",
        "amplitude_emulator",
        "serve",
        "--url-file",
        str(url_file),
    ]
    process = subprocess.Popen(
        [*command, "--events", "120", "--hours", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()  # printed after the URL file is written
        assert line.startswith("EMULATOR_URL=http://127.0.0.1:"), process.stderr
        assert url_file.read_text() == line + "\n"
        base = line.split("=", 1)[1]
        response = export(base, "20260101T00", "20260101T01", auth=("key-std", "secret-std"))
        assert len(unzip_events(response.content)[1]) == 120
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)  # waits, and closes the pipes
        assert process.returncode == 0
