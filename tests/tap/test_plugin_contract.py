"""What tap-amplitude promises as a plugin: its capabilities, its settings as Meltano shows them
(meltano.yml agrees with `--about`), removed settings, and the SDK's METRIC lines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from scripts.hub_definitions import hub_setting
from tests.tap.helpers import ROOT, TAP, Emulator, base_config, run_tap, write_json
from tests.test_docs import SDK_SETTINGS

CAPABILITIES = [
    "catalog",
    "state",
    "discover",
    "about",
    "stream-maps",
    "schema-flattening",
    "structured-logging",
]


def _about() -> dict[str, Any]:
    done = subprocess.run(
        [TAP, "--about", "--format=json"], capture_output=True, text=True, check=True, timeout=60
    )
    about: dict[str, Any] = json.loads(done.stdout)
    return about


def _meltano_definition() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (definition,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-amplitude"]
    result: dict[str, Any] = definition
    return result


def test_capabilities_are_exactly_the_supported_ones() -> None:
    """structured-logging in; batch and activate-version out (the tap does not support them),
    so a new SDK default cannot slip in unnoticed."""
    assert _about()["capabilities"] == CAPABILITIES
    assert sorted(_meltano_definition()["capabilities"]) == sorted(CAPABILITIES)


def test_meltano_yml_settings_match_about_labels_kinds_defaults_and_descriptions() -> None:
    """Each default, label and range is written once, in the schema: meltano.yml follows it."""
    properties = _about()["settings"]["properties"]
    declared = _meltano_definition()["settings"]
    own = [name for name in properties if name not in SDK_SETTINGS]
    assert [s["name"] for s in declared] == own
    for setting in declared:
        expected = hub_setting(setting["name"], properties[setting["name"]])
        secret = expected["kind"] == "password"
        assert setting["label"] == expected["label"], setting["name"]
        assert setting["kind"] == ("string" if secret else expected["kind"]), setting["name"]
        assert bool(setting.get("sensitive")) == secret, setting["name"]
        assert setting.get("value") == expected.get("value"), setting["name"]
        assert setting.get("options") == expected.get("options"), setting["name"]
        assert " ".join(setting["description"].split()) == expected["description"], setting["name"]
    required = _about()["settings"]["required"]
    assert _meltano_definition()["settings_group_validation"] == [required]


# The module's emulator (the ``emu`` fixture of tests/tap/conftest.py): make_emulator's arguments.
EMULATOR = {"events": 400}


def test_the_removed_max_concurrent_requests_is_ignored_with_a_deprecation_warning(
    emu: Emulator, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, base_config(emu, max_concurrent_requests=3), streams={"events_list"})
    assert run.returncode == 0, run.stderr
    assert "`max_concurrent_requests` is deprecated and ignored" in run.stderr
    assert run.records("events_list")
    clean = run_tap(tmp_path, base_config(emu), streams={"events_list"})
    assert "deprecated" not in clean.stderr


def _metric_points(stderr: str, metric: str) -> list[dict[str, Any]]:
    points = []
    for line in stderr.splitlines():
        if "METRIC: " in line:
            point = json.loads(line.split("METRIC: ", 1)[1])
            if point["metric"] == metric:
                points.append(point)
    return points


def test_every_request_exports_included_gets_an_http_request_duration_metric(
    emu: Emulator, tmp_path: Path
) -> None:
    """One METRIC line per request, failed attempts included, tagged with stream, endpoint and
    status: 4 export windows plus one retried 503, and the REST streams."""
    emu.faults.clear()
    emu.reset_requests()
    emu.faults.statuses("/api/2/export", [503])
    config = base_config(emu, request_time_range=6)
    run = run_tap(tmp_path, config, streams={"events", "events_list", "active_users"})
    assert run.returncode == 0, run.stderr[-3000:]
    points = _metric_points(run.stderr, "http_request_duration")
    for path, stream in (
        ("/api/2/export", "events"),
        ("/api/2/events/list", "events_list"),
        ("/api/2/users", "active_users"),
    ):
        mine = [p for p in points if p["tags"]["endpoint"] == path]
        served = emu.requests_to(path)
        assert len(mine) == len(served) > 0, path
        assert {p["tags"]["stream"] for p in mine} == {stream}
        assert sorted(p["tags"]["http_status_code"] for p in mine) == sorted(
            r.status for r in served
        )
        assert all(p["type"] == "timer" and p["value"] >= 0 for p in mine)
    exports = [p for p in points if p["tags"]["endpoint"] == "/api/2/export"]
    assert len(exports) == 5  # 4 windows + the retried 503
    assert [p["tags"]["status"] for p in exports].count("failed") == 1
    counts = _metric_points(run.stderr, "http_request_count")
    assert sum(p["value"] for p in counts if p["tags"]["endpoint"] == "/api/2/export") == 4
    write_json(tmp_path / "metrics.json", points)  # kept for a failing run's inspection
