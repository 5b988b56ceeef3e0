"""create_only's keys as sorted runs (key_runs.py) and in the file (store.py's key_runs and
key_blocks): every key recorded is found again, through merges, reopening, a format 2 file's
upgrade and a change of sync_mode."""

from __future__ import annotations

import math
import random
import sqlite3
import threading
import typing as t
import uuid
from pathlib import Path

import pytest
from target_amplitude.ledger import LedgerCorruptError, key_runs, payload_digest
from target_amplitude.ledger import store as store_module
from target_amplitude.ledger.store import FORMAT_VERSION, NO_HASH, LedgerStore

from tests.ledger.ledger_file import keys_by_stream
from tests.ledger.test_key_filter import _sql

UUIDS = [str(uuid.UUID(int=n * 104_729 + 7, version=4)) for n in range(20_000)]
ODD = ["", "a", "ab", "abc", "b", "é", "\U0001f600", "tab\tkey", "nul\x00key", "\ud800lone"]
A = payload_digest({"plan": "free"})


# -- The pure parts -------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [sorted(UUIDS[:300]), sorted(ODD), sorted(ODD[:8]), ["only"]])
def test_a_block_gives_back_its_keys_and_holds_each_and_no_other(keys: list[str]) -> None:
    blob = key_runs.encode(keys)
    assert key_runs.decode(blob) == keys
    for key in keys:
        assert key_runs.holds(blob, key)
    # Neighbours of a key: its prefixes and extensions are other keys.
    for absent in ("ab\x00", "abcd", "c", "tab", "key", "nul", "\x00", UUIDS[301], "a" * 3):
        if absent not in keys:
            assert not key_runs.holds(blob, absent)


def test_a_key_holding_nul_or_the_escape_is_kept_escaped_and_found_whole() -> None:
    keys = ["a", "a\x01e", "a\x010", "nul\x00key", "\x01"]
    blob = key_runs.encode(sorted(keys))
    assert blob.count(b"\x00") == len(keys) + 1  # the separators alone
    assert key_runs.decode(blob) == sorted(keys)
    assert all(key_runs.holds(blob, key) for key in keys)
    assert not any(key_runs.holds(blob, key) for key in ("nul", "key", "\x00", "a\x01", "e"))


def test_merged_runs_are_sorted_each_key_once_in_blocks_of_the_size() -> None:
    rng = random.Random(5)
    runs = [sorted(rng.sample(UUIDS, n)) for n in (5000, 1200, 300, 1)]  # overlapping
    size = 64
    out = list(
        key_runs.merged([key_runs.blocks(run, rng.choice([7, 64, 500])) for run in runs], size)
    )
    flat = [key for block in out for key in block]
    assert flat == sorted(set().union(*runs))
    assert all(len(block) == size for block in out[:-1])
    assert 0 < len(out[-1]) <= size
    assert list(key_runs.merged([], size)) == []


def test_runs_merged_as_they_grow_stay_few_each_larger_than_a_third_of_the_newer() -> None:
    runs: list[int] = []
    written = 0
    for flush in [25_000] * 40 + [300] * 200 + [1_000_000] + [60_000] * 30:
        start = key_runs.merge_from(runs, flush)
        merged = flush + sum(runs[start:])
        written += merged
        runs = [*runs[:start], merged]
        for at in range(len(runs) - 1):
            assert runs[at] * 3 > sum(runs[at + 1 :])
        # At most three runs of each size, sizes growing fourfold.
        assert len(runs) <= 3 * (math.log(sum(runs) / 300, 4) + 1)
    total = sum(runs)
    assert written < total * 3  # each key rewritten a few times, not once a run


def test_four_runs_of_one_size_are_merged_a_run_of_the_newer_together_is_not() -> None:
    assert key_runs.merge_from([100, 100], 100) == 2  # three of a size: none merged
    assert key_runs.merge_from([100, 100, 100], 100) == 0  # the fourth: all four
    assert key_runs.merge_from([400, 100, 100, 100], 100) == 1  # those of its size
    assert key_runs.merge_from([1_000_000], 1_000_000) == 1  # kept keys: not rewritten yet
    assert key_runs.merge_from([1_000_000], 3_000_000) == 0
    assert key_runs.merge_from([], 5) == 0


def test_a_block_is_about_a_quarter_of_a_page() -> None:
    per_block = key_runs.keys_per_block(UUIDS[:1000], 16_384)
    assert 90 <= per_block <= 110  # 37 bytes a UUID and its separator
    assert key_runs.keys_per_block(["x" * 50_000], 4096) == 1
    assert key_runs.keys_per_block([], 4096) == 1


# -- In the file ----------------------------------------------------------------------------


def _open(path: Path, run: str = "run") -> tuple[LedgerStore, int]:
    store = LedgerStore(path)
    store.lock(run)
    scope = store.scope_id("p", "standard", "events", "event")
    assert scope is not None
    return store, scope


def _runs_in_file(path: Path) -> list[tuple[int, int]]:
    """(run, keys) of every run, and that the blocks are exactly those of these runs."""
    runs = _sql(path, "SELECT run, n FROM key_runs ORDER BY run")
    blocks = _sql(path, "SELECT run, keys FROM key_blocks")
    counted: dict[int, int] = {}
    for run, blob in blocks:
        counted[run] = counted.get(run, 0) + len(key_runs.decode(blob))
    assert sorted(counted.items()) == runs  # no block of a run merged away is left
    return runs


@pytest.fixture
def small_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LedgerStore, int, Path]:
    """A ledger taken by a run whose store writes a run of keys every 1,000 waiting rows."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 1000)
    path = tmp_path / "ledger.sqlite"
    return (*_open(path), path)


def test_create_only_keys_are_kept_as_runs_merged_as_they_grow(
    small_runs: tuple[LedgerStore, int, Path],
) -> None:
    store, scope, path = small_runs
    for start in range(0, 12_000, 500):
        chunk = UUIDS[start : start + 500]
        assert store.known(scope, chunk) == set()
        store.record_keys(scope, chunk, asked=True)
    store.commit()
    runs = _runs_in_file(path)
    assert sum(n for _, n in runs) == 12_000
    assert 1 < len(runs) <= 4
    assert _sql(path, "SELECT count(*) FROM entries") == [(0,)]
    assert store.known(scope, UUIDS[:14_000]) == set(UUIDS[:12_000])
    store.close()
    assert keys_by_stream(path) == {"events": set(UUIDS[:12_000])}
    store, scope = _open(path, "next")  # a new run: its runs read from the file
    assert store.known(scope, UUIDS[11_990:12_010]) == set(UUIDS[11_990:12_000])
    assert store.count(scope) == 12_000
    assert not store.is_empty(scope)
    assert [key for key, _, _ in store.entries(scope)] == sorted(UUIDS[:12_000])
    store.close()


def test_the_runs_a_merge_replaces_answer_until_it_is_written(
    small_runs: tuple[LedgerStore, int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, scope, path = small_runs
    for start in (0, 1000, 2000):  # runs 1 to 3, by the writer thread
        store.record_keys(scope, UUIDS[start : start + 1000])
        store.write_waiting()
    inside, go_on = threading.Event(), threading.Event()
    insert_blocks = store._insert_blocks

    def held(*args: t.Any) -> int:
        inside.set()  # the merge is under way: its run is not in the file yet
        assert go_on.wait(10)
        return insert_blocks(*args)

    monkeypatch.setattr(store, "_insert_blocks", held)
    store.record_keys(scope, UUIDS[3000:4000])  # the fourth of their size: merged with them
    assert inside.wait(10)
    assert store.known(scope, UUIDS[:4100]) == set(UUIDS[:4000])
    go_on.set()
    store.commit()
    assert store.known(scope, UUIDS[:4100]) == set(UUIDS[:4000])
    assert _runs_in_file(path) == [(4, 4000)]
    store.close()


def test_a_key_answers_with_what_was_recorded_last_whatever_the_sync_mode(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    store, scope = _open(path)
    store.record_keys(scope, ["e1", "e2"])  # create_only
    store.commit()
    assert store.lookup_many(scope, ["e1", "e2", "e3"]) == {"e1": NO_HASH, "e2": NO_HASH}
    store.record(scope, [("e1", A, None)])  # changed: sent again, acknowledged
    store.commit()
    assert store.lookup(scope, "e1") == A
    assert store.lookup(scope, "e2") == NO_HASH
    store.record_keys(scope, ["e1"])  # create_only again (full_resync): later than the hash
    store.commit()
    assert store.lookup(scope, "e1") == NO_HASH
    assert _sql(path, "SELECT key FROM entries") == []
    assert store.known(scope, ["e1", "e2", "e3"]) == {"e1", "e2"}
    assert store.count(scope) == 2
    store.close()


def _format_2(path: Path, keys: list[str]) -> None:
    """A format 2 file as target-amplitude 0.x left it: create_only's keys in entries."""
    store, scope = _open(path, "old")
    store.record(scope, [("hashed", A, None)])
    store.close()
    _sql(path, "DELETE FROM key_filters")  # made anew from the keys below
    _sql(path, "DROP TABLE key_runs")
    _sql(path, "DROP TABLE key_blocks")
    _sql(path, "UPDATE meta SET value = '2' WHERE name = 'format_version'")
    _sql(
        path,
        "INSERT INTO entries (scope, key, hash, props) VALUES "
        + ",".join(f"({scope}, '{key}', x'', NULL)" for key in keys),
    )


def test_a_format_2_ledger_is_upgraded_and_keeps_every_key(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    keys = UUIDS[:3000]
    _format_2(path, keys)
    reader = LedgerStore(path, read_only=True)  # a dry run reads it as it is
    scope = reader.scope_id("p", "standard", "events", "event")
    assert scope is not None
    assert reader.known(scope, UUIDS[2990:3010]) == set(UUIDS[2990:3000])
    reader.close()
    store, scope = _open(path, "new")
    assert _sql(path, "SELECT value FROM meta WHERE name = 'format_version'") == [
        (str(FORMAT_VERSION),)
    ]
    assert _sql(path, "SELECT key FROM entries") == [("hashed",)]  # only rows with a hash
    assert _runs_in_file(path) == [(1, 3000)]
    assert store.known(scope, UUIDS[:4000]) == set(keys)
    assert store.lookup(scope, "hashed") == A
    store.close()
    assert keys_by_stream(path) == {"events": {*keys, "hashed"}}


def test_an_upgrade_that_fails_leaves_the_format_2_ledger_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    _format_2(path, UUIDS[:100])
    _sql(
        path,
        "INSERT INTO scopes (project, region, stream, object) VALUES ('p', 'eu', 'e', 'event')",
    )
    _sql(path, "INSERT INTO entries SELECT 2, key, hash, props FROM entries WHERE hash = x''")
    before = _sql(path, "SELECT scope, key, hash FROM entries ORDER BY scope, key")
    insert_blocks = LedgerStore._insert_blocks
    calls = []

    def failing(self: LedgerStore, *args: t.Any) -> int:
        calls.append(args[0])
        if len(calls) == 2:  # the second scope's run
            raise sqlite3.OperationalError("disk I/O error")
        return insert_blocks(self, *args)

    monkeypatch.setattr(LedgerStore, "_insert_blocks", failing)
    store = LedgerStore(path)
    with pytest.raises(LedgerCorruptError, match="disk I/O error"):
        store.lock("new")
    store.close()
    assert calls == [1, 2]
    assert _sql(path, "SELECT value FROM meta WHERE name = 'format_version'") == [("2",)]
    assert _sql(path, "SELECT scope, key, hash FROM entries ORDER BY scope, key") == before
    assert _sql(path, "SELECT count(*) FROM key_blocks") == [(0,)]
    assert _sql(path, "SELECT count(*) FROM run_lock") == [(0,)]


def test_the_page_cache_grows_only_once_entries_rows_are_used(tmp_path: Path) -> None:
    """Keys in runs are written in order and read a block at a time: a small page cache (a
    large one only added to the target's memory); the entries B-tree (changed, mirror) gets the
    large one."""
    store, events = _open(tmp_path / "ledger.sqlite")

    def cache_kib() -> int:
        return -int(store._conn.execute("PRAGMA cache_size").fetchone()[0])

    store.record_keys(events, UUIDS[:3000], asked=False)
    store.write_waiting()
    assert store.known(events, UUIDS[:10]) == set(UUIDS[:10])
    assert cache_kib() == store_module.RUNS_CACHE_KIB
    users = store.scope_id("p", "standard", "customers", "user")
    assert users is not None
    store.record(users, [("u:1|d:", payload_digest({"user_id": "1"}), None)])
    store.write_waiting()
    assert cache_kib() == store_module.CACHE_KIB
    store.close()


def test_one_run_merged_alone_is_only_cut_again_and_pieces_of_any_size_merge_alike() -> None:
    keys = sorted(UUIDS[:5000])
    pieces = [keys[i : i + 3000] for i in range(0, 5000, 3000)]  # a piece: several blocks
    assert [len(b) for b in key_runs.merged([iter(pieces)], 700)] == [700] * 7 + [100]
    assert [k for b in key_runs.merged([iter(pieces)], 700) for k in b] == keys
    other = sorted(UUIDS[4000:9000])  # 1,000 keys in both
    by_piece = key_runs.merged([iter(pieces), key_runs.blocks(other, 2500)], 100)
    by_block = key_runs.merged([key_runs.blocks(keys, 100), key_runs.blocks(other, 100)], 100)
    assert list(by_piece) == list(by_block)
    assert sum(map(len, key_runs.merged([iter(pieces), iter([other])], 100))) == 9000
