"""The ledger's parts on their own: decisions, hashes, the SQLite file, one run's session."""

from __future__ import annotations

import sqlite3
import typing as t
from pathlib import Path

import pytest
from target_amplitude.ledger import (
    Kind,
    Ledger,
    LedgerConfig,
    LedgerCorruptError,
    LedgerError,
    LedgerLockedError,
    decide,
    key_fingerprint,
    ledger_key,
    payload_digest,
    property_names,
    wire_digest,
)
from target_amplitude.ledger import remote as remote_module
from target_amplitude.ledger import store as store_module
from target_amplitude.ledger.keys import unset_payload
from target_amplitude.ledger.store import FORMAT_VERSION, LedgerStore
from target_amplitude.settings import SettingsError, parse_stream_mapping

A, B = payload_digest({"plan": "free"}), payload_digest({"plan": "pro"})


@pytest.mark.parametrize(
    ("mode", "previous", "digest", "kind", "send"),
    [
        ("create_only", None, A, Kind.NEW, True),
        ("create_only", A, A, Kind.UNCHANGED, False),
        ("create_only", A, B, Kind.UNCHANGED, False),  # created once ever
        ("changed", None, A, Kind.NEW, True),
        ("changed", A, A, Kind.UNCHANGED, False),
        ("changed", A, B, Kind.CHANGED, True),
        ("mirror", A, A, Kind.UNCHANGED, False),
        ("mirror", A, B, Kind.CHANGED, True),
        ("all", A, A, Kind.UNCHANGED, True),
    ],
)
def test_decide(mode: t.Any, previous: bytes | None, digest: bytes, kind: Kind, send: bool) -> None:
    verdict = decide(mode, previous, digest)
    assert (verdict.kind, verdict.send) == (kind, send)


def test_full_resync_and_rows_in_flight_are_sent_all_the_same() -> None:
    assert decide("changed", A, A, full_resync=True).send
    assert decide("create_only", A, A, full_resync=True).send
    # Sent earlier in this run, not answered yet: it may still be refused, so send again.
    assert decide("changed", A, A, in_flight=True).send


def test_the_payload_hash_ignores_key_order_and_sees_every_value() -> None:
    one = {"user_id": "u1", "user_properties": {"a": 1, "b": [1, 2]}}
    other = {"user_properties": {"b": [1, 2], "a": 1}, "user_id": "u1"}
    assert payload_digest(one) == payload_digest(other)
    assert payload_digest(one) != payload_digest({**one, "user_properties": {"a": 1, "b": [2, 1]}})
    assert len(payload_digest(one)) == 16


def test_the_project_fingerprint_does_not_reveal_the_key() -> None:
    fingerprint = key_fingerprint("0123456789abcdef0123456789abcdef")
    assert len(fingerprint) == 16
    assert "0123456789abcdef" not in fingerprint
    assert fingerprint != key_fingerprint("0123456789abcdef0123456789abcdeF")


def test_keys_and_unset_payloads() -> None:
    assert ledger_key("event", {"insert_id": "orders:1"}) == "orders:1"
    assert ledger_key("event", {}) is None
    assert ledger_key("user", {"user_id": "u1"}) == "u1\x1f"
    assert ledger_key("device", {"device_id": "d1"}) == "\x1fd1"
    assert ledger_key("group", {"group_type": "org", "group_value": "acme"}) == "org\x1facme"
    ops = {"user_properties": {"$set": {"a": 1}, "$setOnce": {"b": 2}, "$unset": {"c": "-"}}}
    assert property_names("user", ops) == ["a", "b"]
    assert property_names("group", {"group_properties": {"x": 1}}) == ["x"]
    assert unset_payload("user", "u1\x1f", ["a"]) == {
        "user_id": "u1",
        "user_properties": {"$unset": {"a": "-"}},
    }
    assert unset_payload("group", "org\x1facme", ["x"]) == {
        "group_type": "org",
        "group_value": "acme",
        "group_properties": {"$unset": {"x": "-"}},
    }
    assert unset_payload("user", "u1\x1f", []) is None


@pytest.mark.parametrize(
    ("obj", "extra"),
    [
        ("event", {"event_type": "E", "user_id_field": "u"}),
        ("deletion", {"user_id_field": "u"}),
    ],
)
def test_sync_modes_an_object_cannot_have_are_config_errors(
    obj: str, extra: dict[str, str]
) -> None:
    with pytest.raises(
        SettingsError, match=r"stream_mappings\.s\.sync_mode: 'mirror' is not allowed"
    ):
        parse_stream_mapping("s", {"object": obj, "sync_mode": "mirror", **extra})


def test_default_sync_modes() -> None:
    event = parse_stream_mapping("s", {"object": "event", "event_type": "E", "user_id_field": "u"})
    user = parse_stream_mapping("s", {"object": "user", "user_id_field": "u"})
    mirrored = parse_stream_mapping(
        "s", {"object": "user", "user_id_field": "u", "sync_mode": "mirror"}
    )
    assert (event.effective_sync_mode, user.effective_sync_mode) == ("create_only", "changed")
    assert mirrored.effective_sync_mode == "mirror"


# -- The file -------------------------------------------------------------------------------


def test_entries_are_invisible_to_others_until_committed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    store = LedgerStore(path)
    store.lock("run-1")
    scope = store.scope_id("p", "standard", "customers", "user")
    assert scope is not None
    store.record(scope, [("u1", A, None)])
    assert store.lookup(scope, "u1") == A
    other = sqlite3.connect(path, timeout=0.1)
    assert other.execute("SELECT count(*) FROM entries").fetchone() == (0,)
    store.commit()
    assert other.execute("SELECT count(*) FROM entries").fetchone() == (1,)
    other.close()
    store.close()


def test_two_stores_on_one_file_the_second_is_refused(tmp_path: Path) -> None:
    first = LedgerStore(tmp_path / "ledger.sqlite")
    first.lock("run-1")
    second = LedgerStore(tmp_path / "ledger.sqlite")
    with pytest.raises(LedgerLockedError, match=r"in use by another run \(run run-1 on "):
        second.lock("run-2")
    second.close()
    first.close()
    third = LedgerStore(tmp_path / "ledger.sqlite")
    third.lock("run-3")  # released by close
    third.close()


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    LedgerStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE name = 'format_version'", (str(FORMAT_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    with pytest.raises(LedgerCorruptError, match="newer than this target-amplitude"):
        LedgerStore(path)


def _filled(path: Path, rows: int) -> int:
    """A ledger at path with `rows` user rows u0, u1, ... in one scope (its id), closed."""
    store = LedgerStore(path)
    store.lock("fill")
    scope = store.scope_id("p", "standard", "s", "user")
    assert scope is not None
    store.record(scope, [(f"u{i}", A, None) for i in range(rows)])
    store.close()
    return scope


def test_a_truncated_ledger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _filled(path, 5000)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(LedgerCorruptError, match=str(path)):
        LedgerStore(path)


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The PRAGMA quick_check statements of every ledger file opened from now on (a list,
    filled as they run)."""
    checks: list[str] = []
    connect = sqlite3.connect

    def traced(*args: t.Any, **kwargs: t.Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(
            lambda sql: checks.append(sql) if "quick_check" in sql.lower() else None
        )
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    return checks


def _meta(path: Path, name: str) -> str | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])
    finally:
        conn.close()


def _damage(path: Path, table: str) -> None:
    """Overwrite the root page of a table with garbage (the file stays its size)."""
    conn = sqlite3.connect(path)
    try:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        page = int(root.fetchone()[0])
    finally:
        conn.close()
    with path.open("r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(b"\xff" * page_size)


def test_a_ledger_its_last_run_closed_is_read_whole_once_a_week_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    checks = _checks(monkeypatch)
    _filled(path, 5000)
    assert len(checks) == 1  # a new file is checked, and the check recorded
    checked_at = _meta(path, "checked_at")
    assert checked_at is not None
    reopened = LedgerStore(path)
    reopened.lock("daily")
    reopened.close()
    assert len(checks) == 1
    assert _meta(path, "checked_at") == checked_at
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '2026-01-01T00:00:00+00:00' WHERE name = 'checked_at'")
    conn.commit()
    conn.close()
    weekly = LedgerStore(path)
    weekly.lock("a week later")
    weekly.close()
    assert len(checks) == 2
    assert _meta(path, "checked_at") not in (None, "2026-01-01T00:00:00+00:00")


def test_a_ledger_a_run_left_open_is_read_whole_and_its_damage_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashed run leaves its run_lock row (the OS lock goes with the process): the next run
    reads the file whole before anything is sent; so does a copy taken during a run (every
    ledger_url upload), here through snapshot."""
    path = tmp_path / "ledger.sqlite"
    _filled(path, 5000)
    checks = _checks(monkeypatch)
    running = LedgerStore(path)
    running.lock("crashed")
    copy = tmp_path / "copy.sqlite"
    running.snapshot(copy)
    LedgerStore(copy).close()
    assert len(checks) == 1
    lock_file = running._lock_file
    assert lock_file is not None
    running._conn.close()  # as after a crash: the row stays, the OS releases the flock
    lock_file.close()
    _damage(path, "entries")
    with pytest.raises(LedgerCorruptError, match=f"The sync ledger {path} is unreadable"):
        LedgerStore(path)
    assert len(checks) == 2
    # Found by the check alone: the same file opened without one opens.
    monkeypatch.setattr(store_module, "_check_due", lambda conn: False)
    LedgerStore(path).close()


def _page_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def test_a_ledger_made_with_other_pages_keeps_them_and_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file gets PAGE_BYTES pages; one made before (SQLite's default 4 KiB pages) is read
    and written as it is, never converted."""
    fresh = tmp_path / "fresh.sqlite"
    LedgerStore(fresh).close()
    assert _page_size(fresh) == store_module.PAGE_BYTES != 4096
    older = tmp_path / "older.sqlite"
    monkeypatch.setattr(store_module, "PAGE_BYTES", 4096)
    scope = _filled(older, 3000)
    monkeypatch.undo()
    store = LedgerStore(older)
    store.lock("r2")
    assert store.scope_id("p", "standard", "s", "user") == scope
    assert store.lookup(scope, "u2999") == A
    store.record(scope, [("new", A, None)])
    store.close()
    assert _page_size(older) == 4096
    store = LedgerStore(older, read_only=True)
    assert store.count(scope) == 3001
    store.close()


# -- One run's session ----------------------------------------------------------------------


def _config(tmp_path: Path, **extra: t.Any) -> LedgerConfig:
    return LedgerConfig(
        path=tmp_path / "ledger.sqlite", url=None, api_key="k", region="standard", **extra
    )


def test_answered_rows_are_recorded_refused_ones_not(tmp_path: Path) -> None:
    ledger = Ledger(_config(tmp_path))
    scope = ledger.scope("customers", "user", "changed")
    assert scope is not None
    for key in ("u1", "u2"):
        assert scope.classify(key, A).send
        scope.sent(key)
    scope.answered([("u1", A, None)], ["u1", "u2"])  # u2 refused
    ledger.checkpoint()
    ledger.close()
    again = Ledger(_config(tmp_path))
    scope = again.scope("customers", "user", "changed")
    assert scope is not None
    assert scope.classify("u1", A).kind is Kind.UNCHANGED
    assert scope.classify("u2", A).kind is Kind.NEW
    assert again.scope("other", "user", "all") is None
    again.close()


def test_file_url_copy_and_a_failed_upload_keeps_the_previous_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = (tmp_path / "store" / "ledger.sqlite").as_uri()
    (tmp_path / "store").mkdir()
    config = LedgerConfig(
        path=tmp_path / "one" / "ledger.sqlite", url=url, api_key="k", region="standard"
    )
    ledger = Ledger(config)
    scope = ledger.scope("s", "user", "changed")
    assert scope is not None
    scope.sent("u1")
    scope.answered([("u1", A, None)], ["u1"])
    ledger.close()
    stored = (tmp_path / "store" / "ledger.sqlite").read_bytes()
    assert not (tmp_path / "store" / "ledger.sqlite.lock").exists()

    fresh = Ledger(
        LedgerConfig(path=tmp_path / "two" / "l.sqlite", url=url, api_key="k", region="standard")
    )
    scope = fresh.scope("s", "user", "changed")
    assert scope is not None
    assert scope.classify("u1", A).kind is Kind.UNCHANGED  # downloaded
    scope.sent("u2")
    scope.answered([("u2", A, None)], ["u2"])
    assert fresh.remote is not None

    def broken_upload(_snapshot: Path) -> None:
        raise OSError("connection reset")

    fresh.remote.upload = broken_upload  # type: ignore[method-assign]
    fresh.close()
    assert "uploading to" in caplog.text
    assert (tmp_path / "store" / "ledger.sqlite").read_bytes() == stored  # the previous copy


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(remote_module.SCHEMES, "s3", ("no_such_s3_library", "s3"))
    with pytest.raises(
        LedgerError, match=r"needs the `s3` extra: install singer-target-amplitude\[s3\]"
    ):
        remote_module.RemoteCopy("s3://bucket/ledger.sqlite", "run")
    with pytest.raises(LedgerError, match="the scheme must be one of"):
        remote_module.RemoteCopy("ftp://host/ledger.sqlite", "run")


def test_the_wire_hash_is_of_the_bytes_sent_in_order() -> None:
    one = [b'{"$clearAll":true}', b'{"user_id":"u1"}']
    assert wire_digest(one) == wire_digest([b'{"$clearAll":true}{"user_id":"u1"}'])
    assert wire_digest(one) != wire_digest(list(reversed(one)))
    assert wire_digest([b'{"a":1,"b":2}']) != wire_digest([b'{"b":2,"a":1}'])
    assert len(wire_digest(one)) == 16


@pytest.mark.parametrize(
    ("exc", "denied"),
    [
        (PermissionError("Access Denied"), True),  # s3fs
        (OSError("Forbidden: b/ledger.sqlite.lock\nno storage.objects.get access"), True),  # gcsfs
        (type("HttpError", (Exception,), {"code": 401})("Invalid Credentials, 401"), True),
        (type("HttpResponseError", (Exception,), {"status_code": 403})("denied"), True),  # adlfs
        (OSError("connection reset"), False),
    ],
)
def test_a_refused_store_is_worded_as_access_denied(exc: BaseException, denied: bool) -> None:
    """Every library's refusal reads the same (gcp-storage-emulator refuses nothing, so gcsfs's
    shapes are checked here; S3's runs are in test_object_store_access.py)."""
    url = "gs://bucket/amplitude/ledger.sqlite"
    text = remote_module.access_error(url, "read the lock object", exc)
    assert text.startswith(f"ledger_url {url}: ")
    assert ("access denied: this runner's credentials may not read" in text) is denied
    assert "Nothing was sent." in text
    assert f"its lock object {url}.lock" in text
    assert "roles/storage.objectUser" in text
    assert "or unset ledger_url" in text
    assert "\n" not in text  # the first line of a store's message only


def test_a_lock_object_that_cannot_be_deleted_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = (tmp_path / "ledger.sqlite").as_uri()
    remote = remote_module.RemoteCopy(url, "run-1")
    remote.acquire()

    def refuse(_path: str) -> None:
        raise PermissionError("Access Denied")

    monkeypatch.setattr(remote.fs, "rm_file", refuse)
    remote.release()
    assert f"could not delete the lock object {url}.lock (PermissionError: Access Denied)" in (
        caplog.text
    )
    assert (tmp_path / "ledger.sqlite.lock").exists()
