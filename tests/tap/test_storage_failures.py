"""export_source: storage with bad input: each failure is one clear message naming the setting or
the file, exit code 1, and no bookmark past an hour that was not read whole."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from amplitude_emulator.storage_export import event_file_key, write_storage_export
from amplitude_emulator.timefmt import MS_PER_HOUR
from tap_amplitude.config_schema import CONFIG_SCHEMA

from tests.tap.helpers import KEY, make_emulator, run_tap
from tests.tap.storage_servers import Store, gcs_server, s3_server, store
from tests.tap.test_storage_export import _fs, _key_path, storage_config

__all__ = ["gcs_server", "s3_server", "store"]  # fixtures, imported for pytest

HOUR0 = 1767225600000 // MS_PER_HOUR  # 2026-01-01T00


@pytest.fixture(scope="module")
def emu() -> Any:
    emulator = make_emulator(events=1200, hours=12)
    yield emulator
    emulator.stop()


def test_a_missing_bucket_names_the_setting(tmp_path: Path, emu: Any, store: Store) -> None:
    url = f"{store.scheme}://no-such-bucket-4f1c/amplitude"
    run = run_tap(tmp_path, storage_config(emu, url), streams={"events"})
    assert run.returncode == 1
    assert (
        f"export_storage_url {url}: the bucket 'no-such-bucket-4f1c' does not exist" in run.stderr
    )
    assert run.records("events") == []
    assert all(not s["bookmarks"].get("events") for s in run.states)


def test_a_prefix_without_amplitude_files_says_what_it_found(
    tmp_path: Path, emu: Any, s3_server: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    url = s3_server.new_url("exports")
    fs = _fs(url)
    fs.mkdir(url.split("://")[1].split("/")[0])
    fs.pipe_file(_key_path(url, "exports/readme.txt"), b"not an export")
    run = run_tap(tmp_path, storage_config(emu, url), streams={"events"})
    assert run.returncode == 1
    assert f"export_storage_url {url}: no file named like Amplitude's export" in run.stderr
    assert "among the 1 object(s) under it (e.g. s3://" in run.stderr


def test_a_truncated_file_names_it_and_the_bookmark_stops_before_its_hour(
    tmp_path: Path, emu: Any, s3_server: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    url = s3_server.new_url("exports")
    write_storage_export(emu.project(KEY), url)
    key = _key_path(url, event_file_key("exports", 187520, HOUR0 + 5, 1))
    fs = _fs(url)
    whole = fs.cat_file(key)
    fs.pipe_file(key, whole[: len(whole) // 2])
    run = run_tap(tmp_path, storage_config(emu, url), streams={"events"})
    assert run.returncode == 1
    assert f"s3://{key}" in run.stderr
    assert "cannot be decompressed" in run.stderr
    assert "hour 2026-01-01T05:00Z" in run.stderr
    assert "did not move" in run.stderr
    assert run.bookmark() == "2026-01-01T05:00:00.000000Z"
    hours = {r["server_upload_time"][:13] for r in run.records("events")}
    assert "2026-01-01T04" in hours
    assert "2026-01-01T06" not in hours
    # Amplitude's backfill writes the hour again: the next run reads it from there.
    fs.pipe_file(key, whole)
    again = run_tap(tmp_path, storage_config(emu, url), streams={"events"}, state=run.states[-1])
    assert again.returncode == 0, again.stderr[-2000:]
    assert {r["server_upload_time"][:13] for r in again.records("events")} >= {"2026-01-01T05"}


def test_a_line_that_is_not_json_names_the_file(
    tmp_path: Path, emu: Any, s3_server: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    url = s3_server.new_url("exports")
    write_storage_export(emu.project(KEY), url)
    key = _key_path(url, event_file_key("exports", 187520, HOUR0 + 2, 1))
    _fs(url).pipe_file(key, gzip.compress(b'{"uuid": "a"}\n<html>oops</html>\n'))
    run = run_tap(tmp_path, storage_config(emu, url), streams={"events"})
    assert run.returncode == 1
    assert f"s3://{key}: a line is not JSON" in run.stderr
    assert run.bookmark() == "2026-01-01T02:00:00.000000Z"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"export_source": "storage"}, "Invalid setting `export_storage_url`: export_source is"),
        (
            {"export_source": "storage", "export_storage_url": "https://bucket/x"},
            "Invalid setting `export_storage_url`: expected s3://bucket/prefix",
        ),
        (
            {
                "export_source": "storage",
                "export_storage_url": "s3://bkt/x",
                "aws_access_key_id": "AKIAEXAMPLE",
            },
            "Invalid setting `aws_secret_access_key`",
        ),
        (
            {
                "export_source": "storage",
                "export_storage_url": "gs://bucket/x",
                "gcs_service_account_json": "private-key-not-json",
            },
            "Invalid setting `gcs_service_account_json`",
        ),
    ],
)
def test_storage_settings_fail_fast_naming_the_setting(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    config = {**base_config_like(), **overrides}
    run = run_tap(tmp_path, config, streams={"events"})
    assert run.returncode != 0
    assert message in run.stderr
    assert "private-key-not-json" not in run.stderr
    assert not run.messages or all(m["type"] != "RECORD" for m in run.messages)


def base_config_like() -> dict[str, Any]:
    return {"api_key": "k", "secret_key": "s", "api_url": "http://127.0.0.1:9"}


def test_the_settings_table_is_json_serialisable() -> None:
    # The settings schema (with the storage settings) is the one --about prints.
    names = set(CONFIG_SCHEMA["properties"])
    assert {"export_source", "export_storage_url", "gcs_service_account_json"} <= names
    json.dumps(CONFIG_SCHEMA)
