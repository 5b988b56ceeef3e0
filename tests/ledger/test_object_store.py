"""The ledger kept in an object store (ledger_url), against real servers started here.

A run on a fresh working directory sends nothing already sent; a fresh lock object stops a
second run; a missing bucket or an object that is not a ledger stops the run, nothing sent; a
dry run reads the stored copy and writes nothing there. (A bucket whose credentials are refused:
test_object_store_access.py.)
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import typing as t
from pathlib import Path

import pytest
from target_amplitude.ledger.remote import _filesystem

from tests.ledger.object_stores import SERVERS, ObjectStore
from tests.ledger.test_runs import PLANS, USERS, _config, _customers, _identified, _ok, _run

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator


@pytest.fixture(params=sorted(SERVERS), scope="module")
def store(request: pytest.FixtureRequest) -> t.Iterator[ObjectStore]:
    with SERVERS[request.param]() as running:
        yield running


@pytest.fixture
def store_env(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    return store


def _fs(url: str) -> tuple[t.Any, str]:
    return _filesystem(url)  # as the target reaches it


def test_a_fresh_working_directory_sends_nothing_already_sent(
    clean_emulator: Emulator, tmp_path: Path, store_env: ObjectStore
) -> None:
    url = store_env.url(f"{tmp_path.name}/ledger.sqlite")
    first_dir, second_dir = tmp_path / "runner-1", tmp_path / "runner-2"
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    first = _ok(
        _run(
            tmp_path,
            {**config, "ledger_path": str(first_dir / "ledger.sqlite")},
            _customers(PLANS),
            clean_emulator,
        )
    )
    assert len(_identified(clean_emulator)) == 50
    assert "no copy yet at" in first.stderr
    fs, path = _fs(url)
    assert fs.exists(path)
    assert not fs.exists(path + ".lock")  # released
    assert [p for p in fs.ls(path.rsplit("/", 1)[0]) if ".upload-" in p] == []

    second = _ok(
        _run(
            tmp_path,
            {**config, "ledger_path": str(second_dir / "ledger.sqlite")},
            _customers({**PLANS, "customer-003": "pro"}),
            clean_emulator,
        )
    )
    assert "downloaded from" in second.stderr
    assert [i["user_id"] for i in _identified(clean_emulator)] == ["customer-003"]
    assert "unchanged=49" in second.stderr


def test_a_fresh_lock_object_stops_a_second_run(
    clean_emulator: Emulator, tmp_path: Path, store_env: ObjectStore
) -> None:
    url = store_env.url(f"{tmp_path.name}/ledger.sqlite")
    fs, path = _fs(url)
    holder = {
        "run_id": "run-on-another-runner",
        "host": "ci-7",
        "pid": 1,
        "started_at": "2026-01-01T00:00:00+00:00",
        "heartbeat_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    fs.pipe_file(path + ".lock", json.dumps(holder).encode())
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    run = _run(tmp_path, config, _customers(PLANS), clean_emulator)
    assert run.returncode == 1
    assert f"The sync ledger at {url} is in use by another run (run run-on-another-runner" in (
        run.stderr
    )
    assert "Nothing was sent" in run.stderr
    assert clean_emulator.requests == []
    assert json.loads(fs.cat_file(path + ".lock"))["run_id"] == "run-on-another-runner"
    # A stale lock (heartbeat long past) is taken over.
    fs.pipe_file(
        path + ".lock", json.dumps({**holder, "heartbeat_at": "2026-01-01T00:00:00+00:00"}).encode()
    )
    _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    assert len(_identified(clean_emulator)) == 50


def test_a_bucket_that_cannot_be_written_stops_the_run_before_sending(
    clean_emulator: Emulator, tmp_path: Path, store_env: ObjectStore
) -> None:
    url = store_env.url("ledger.sqlite", bucket="no-such-bucket-here")
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    run = _run(tmp_path, config, _customers(PLANS), clean_emulator)
    assert run.returncode == 1
    assert f"ledger_url {url}: cannot write the lock object: not found (does the bucket" in (
        run.stderr
    )
    assert "Nothing was sent" in run.stderr
    assert clean_emulator.requests == []
    assert run.states == []


def test_an_unreadable_copy_in_the_store_stops_the_run_naming_the_url(
    clean_emulator: Emulator, tmp_path: Path, store_env: ObjectStore
) -> None:
    """ledger_url pointing at something that is not a ledger (here: a Meltano state file)."""
    url = store_env.url(f"{tmp_path.name}/ledger.sqlite")
    fs, path = _fs(url)
    not_a_ledger = json.dumps({"singer_state": {"bookmarks": {}}}).encode()
    fs.pipe_file(path, not_a_ledger)
    local = tmp_path / "ledger.sqlite"
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    run = _run(tmp_path, config, _customers(PLANS), clean_emulator)
    assert run.returncode == 1
    assert f"LedgerCorruptError: The sync ledger downloaded from {url} is unreadable" in run.stderr
    assert f"move {url} aside" in run.stderr
    assert "Nothing was sent" in run.stderr
    assert clean_emulator.requests == []
    assert run.states == []
    assert fs.cat_file(path) == not_a_ledger  # left for the user to look at
    assert not fs.exists(path + ".lock")  # released
    assert not local.exists()  # the local working copy was not replaced by it


def test_a_dry_run_reads_the_stored_copy_and_writes_nothing(
    clean_emulator: Emulator, tmp_path: Path, store_env: ObjectStore
) -> None:
    url = store_env.url(f"{tmp_path.name}/ledger.sqlite")
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    fs, path = _fs(url)
    stored = fs.cat_file(path)
    fresh = {**config, "ledger_path": str(tmp_path / "fresh" / "ledger.sqlite"), "dry_run": True}
    preview = {**PLANS, "customer-001": "pro", "customer-new": "free"}
    dry = _ok(_run(tmp_path, fresh, _customers(preview), clean_emulator))
    assert "new=1 changed=1 unchanged=49 removed=0" in dry.stderr  # from the stored copy
    assert clean_emulator.requests == []
    fs.invalidate_cache()
    assert fs.cat_file(path) == stored
    assert sorted(fs.ls(path.rsplit("/", 1)[0], detail=False)) == [path]  # no lock, no upload
    assert not (tmp_path / "fresh").exists()


def test_a_copy_of_a_newer_format_stops_the_run_naming_the_url(
    clean_emulator: Emulator, tmp_path: Path, store_env: ObjectStore
) -> None:
    """A real SQLite ledger the target cannot read: the error names the object, not the copy."""
    made = tmp_path / "made.sqlite"
    with sqlite3.connect(made) as conn:
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('format_version', '99')")
    made_bytes = made.read_bytes()
    url = store_env.url(f"{tmp_path.name}/ledger.sqlite")
    fs, path = _fs(url)
    fs.pipe_file(path, made_bytes)
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    run = _run(tmp_path, config, _customers(PLANS), clean_emulator)
    assert run.returncode == 1
    assert f"The sync ledger copy at ledger_url {url} is unreadable." in run.stderr
    assert "newer than this target-amplitude's" in run.stderr
    assert f"move {url} aside" in run.stderr
    assert clean_emulator.requests == []
    assert run.states == []
    fs.invalidate_cache()
    assert fs.cat_file(path) == made_bytes
    assert not fs.exists(path + ".lock")  # released
