"""The command line: --about, --discover, --test, stream maps (the SDK's standard tap tests are in
test_core.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.tap.helpers import (
    SECRET,
    TAP,
    Emulator,
    run_tap,
    write_json,
)


def _cli(tmp_path: Path, *args: str, config: dict) -> subprocess.CompletedProcess:
    path = write_json(tmp_path / "config.json", config)
    return subprocess.run(
        [TAP, "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_about_lists_settings_with_secrets_marked() -> None:
    done = subprocess.run(
        [TAP, "--about", "--format=json"], capture_output=True, text=True, check=True, timeout=60
    )
    about = json.loads(done.stdout)
    settings = about["settings"]["properties"]
    assert settings["api_key"]["secret"] is True
    assert settings["secret_key"]["secret"] is True
    assert set(settings["data_region"]["enum"]) == {"Standard Server", "EU Residency Server"}
    assert all(prop.get("description") for prop in settings.values())
    assert {"catalog", "state", "discover", "about", "stream-maps"} <= set(about["capabilities"])


def test_discover_lists_the_streams_with_keys(tmp_path: Path, cli_config: dict) -> None:
    catalog = json.loads(_cli(tmp_path, "--discover", config=cli_config).stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(streams) == {
        "events",
        "merged_ids",
        "active_users",
        "average_session_length",
        "annotations",
        "cohorts",
        "events_list",
        "cohort_members",
        "taxonomy_categories",
        "taxonomy_event_types",
        "taxonomy_event_properties",
        "taxonomy_user_properties",
        "taxonomy_group_properties",
        "deletion_jobs",
    }
    assert streams["events"]["key_properties"] == ["uuid"]
    assert streams["events"]["replication_key"] == "server_upload_time"
    assert streams["active_users"]["replication_key"] == "date"
    assert streams["merged_ids"]["key_properties"] == ["amplitude_id", "merged_amplitude_id"]
    assert streams["merged_ids"]["replication_key"] == "server_upload_hour"
    assert streams["cohort_members"]["key_properties"] == ["cohort_id", "amplitude_id"]
    assert streams["cohort_members"]["replication_key"] == "cohort_last_computed"
    assert streams["taxonomy_event_properties"]["key_properties"] == [
        "event_type",
        "event_property",
    ]
    assert streams["taxonomy_group_properties"]["key_properties"] == [
        "group_type",
        "group_property",
    ]
    assert streams["taxonomy_user_properties"]["key_properties"] == ["user_property"]
    assert streams["deletion_jobs"]["key_properties"] == ["day", "amplitude_id"]
    assert streams["taxonomy_event_types"]["key_properties"] == ["event_type"]
    for stream in catalog["streams"]:
        for name, prop in stream["schema"]["properties"].items():
            assert prop.get("description"), (stream["tap_stream_id"], name)


def test_test_flag_passes_and_names_what_failed(
    tmp_path: Path, cli_emulator: Emulator, cli_config: dict
) -> None:
    cli_emulator.reset_requests()
    assert _cli(tmp_path, "--test", config=cli_config).returncode == 0
    # cohorts are listed, never downloaded: each download counts toward 500 per month
    assert [r for r in cli_emulator.requests if r.path == "/api/3/cohorts"]
    assert not [r for r in cli_emulator.requests if r.path.startswith("/api/5/")]
    bad = _cli(tmp_path, "--test", config={**cli_config, "secret_key": "nope-nope"})
    assert bad.returncode == 1
    assert "Connection test failed" in bad.stderr
    assert "secret_key" in bad.stderr
    assert "nope-nope" not in bad.stderr


def test_stream_maps_and_flattening_apply(tmp_path: Path, cli_config: dict) -> None:
    config = {
        **cli_config,
        "stream_maps": {"events": {"__else__": None, "uuid": "uuid", "kind": "event_type"}},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    run = run_tap(tmp_path, config, streams={"events", "annotations"})
    assert run.returncode == 0, run.stderr
    assert set(run.records("events")[0]) == {"uuid", "kind"}
    assert {"category__id", "category__name"} <= set(run.records("annotations")[0])
    assert SECRET not in run.stdout + run.stderr
